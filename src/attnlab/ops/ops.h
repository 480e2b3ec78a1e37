// Every differentiable op, one include. The table of them is ops/op_table.cpp.
#pragma once
#include "attnlab/ops/elementwise.h"
#include "attnlab/ops/matmul.h"
#include "attnlab/ops/shape.h"
#include "attnlab/ops/conv.h"
#include "attnlab/ops/dct.h"
#include "attnlab/ops/reduce.h"
#include "attnlab/ops/softmax.h"
#include "attnlab/ops/norm.h"
#include "attnlab/ops/embedding.h"
#include "attnlab/ops/loss.h"
#include "attnlab/ops/mask.h"
#include "attnlab/ops/attention.h"
