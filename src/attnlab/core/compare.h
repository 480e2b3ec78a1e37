// One comparison helper (DESIGN.md convention 13): max absolute error and relative RMS
// error ||got - ref|| / ||ref||, with NaN/Inf counted rather than silently compared.
#pragma once
#include <string>

#include "attnlab/core/tensor.h"

namespace attnlab {

struct CloseReport {
  double max_abs = 0;   // max |got - ref|
  double rel_rms = 0;   // ||got - ref||_2 / max(||ref||_2, tiny)
  int64_t nonfinite = 0;  // elements of got that are NaN or Inf where ref is finite
  bool shapes_match = true;
  bool close(double tol) const { return shapes_match && nonfinite == 0 && rel_rms <= tol; }
  std::string describe(const std::string& name) const;
};

CloseReport compare(const Tensor& ref, const Tensor& got);

// Default relative-RMS tolerance for results computed in `t` against a float64 oracle.
double default_tolerance(DType t);

}  // namespace attnlab
