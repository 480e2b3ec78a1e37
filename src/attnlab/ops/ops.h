// Every differentiable op, one include. The table of them is ops/op_table.cpp.
#pragma once
#include "attnlab/ops/elementwise.h"
#include "attnlab/ops/shape.h"
#include "attnlab/ops/attention.h"
