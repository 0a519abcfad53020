// mpi_communicator.cpp - MPI collectives on CPU tensors.
#include "cluster/mpi_communicator.h"

#include <torch/torch.h>

#include <climits>

#include "base/error.h"
#include "base/log.h"
#include "cluster/mpi_runtime.h"

namespace simcsepp::cluster {

namespace {

bool is_16bit_float(at::ScalarType t) { return t == at::kHalf || t == at::kBFloat16; }

// The MPI type that moves the bytes of `t` (16-bit floats as raw 16-bit words).
MPI_Datatype transport_type(at::ScalarType t) {
  switch (t) {
    case at::kFloat:
      return MPI_FLOAT;
    case at::kDouble:
      return MPI_DOUBLE;
    case at::kInt:
      return MPI_INT32_T;
    case at::kLong:
      return MPI_INT64_T;
    case at::kByte:
      return MPI_UINT8_T;
    case at::kBool:
      return MPI_UINT8_T;  // torch stores bool as one byte 0/1
    case at::kHalf:
    case at::kBFloat16:
      return MPI_UINT16_T;
    default:
      throw Error(std::string("dtype ") + c10::toString(t) + " is not supported by the MPI communicator",
                  "MpiCommunicator", "use float32/float64/int32/int64/uint8/bool/float16/bfloat16");
  }
}

MPI_Op mpi_op(ReduceOp op, at::ScalarType t) {
  switch (op) {
    case ReduceOp::kSum:
    case ReduceOp::kAvg:
      SIMCSEPP_CHECK(t != at::kBool, "sum of bool tensors is not defined; use kMax (logical or)");
      return MPI_SUM;
    case ReduceOp::kMax:
      return MPI_MAX;
  }
  return MPI_SUM;
}

int checked_count(int64_t n) {
  SIMCSEPP_CHECK(n <= INT_MAX, "MPI collective over more than INT_MAX elements: split the tensor");
  return static_cast<int>(n);
}

void check_cpu_contiguous(const at::Tensor& t, const char* op) {
  SIMCSEPP_CHECK(t.defined(), std::string(op) + ": undefined tensor");
  SIMCSEPP_CHECK(t.device().is_cpu(),
                 std::string(op) + ": the MPI communicator takes CPU tensors, got " + t.device().str());
  SIMCSEPP_CHECK(t.is_contiguous(), std::string(op) + ": tensor must be contiguous");
}

long long bytes_of(const at::Tensor& t) { return static_cast<long long>(t.numel() * t.element_size()); }

}  // namespace

MpiCommunicator::MpiCommunicator(MPI_Comm parent, double timeout_s) : timeout_s_(timeout_s) {
  SIMCSEPP_CHECK(mpi_is_initialized(), "MpiCommunicator needs MPI initialised");
  MPI_Comm_dup(parent, &comm_);
  MPI_Comm_rank(comm_, &rank_);
  MPI_Comm_size(comm_, &world_);
  if (timeout_s_ > 0) {
    watchdog_ = std::make_unique<CollectiveWatchdog>(
        std::chrono::milliseconds(100), [this] { return in_flight_.overdue(timeout_s_); },
        [](const std::string& failure) { abort_job(failure); });
  }
}

MpiCommunicator::~MpiCommunicator() {
  watchdog_.reset();
  if (comm_ != MPI_COMM_NULL && mpi_is_initialized()) MPI_Comm_free(&comm_);
}

void MpiCommunicator::all_reduce(at::Tensor& tensor, ReduceOp op) {
  check_cpu_contiguous(tensor, "all_reduce");
  const auto type = tensor.scalar_type();
  if (op == ReduceOp::kAvg) {
    SIMCSEPP_CHECK(at::isFloatingType(type), "kAvg needs a floating dtype");
  }
  // 16-bit floats: reduce in float32, round once.
  at::Tensor work = is_16bit_float(type) ? tensor.to(at::kFloat) : tensor;
  {
    InFlightScope scope(in_flight_, "all_reduce", bytes_of(tensor));
    HostCollectiveTimer timer(*this, "all_reduce", bytes_of(tensor));
    MPI_Allreduce(MPI_IN_PLACE, work.data_ptr(), checked_count(work.numel()), transport_type(work.scalar_type()),
                  mpi_op(op, type), comm_);
  }
  if (op == ReduceOp::kAvg) work.div_(world_);
  if (!work.is_same(tensor)) tensor.copy_(work);
}

at::Tensor MpiCommunicator::all_gather(const at::Tensor& tensor) {
  check_cpu_contiguous(tensor, "all_gather");
  std::vector<int64_t> shape(tensor.sizes().begin(), tensor.sizes().end());
  if (shape.empty())
    shape.push_back(world_);
  else
    shape[0] *= world_;
  at::Tensor out = at::empty(shape, tensor.options());
  const auto type = transport_type(tensor.scalar_type());
  const int count = checked_count(tensor.numel());
  InFlightScope scope(in_flight_, "all_gather", bytes_of(out));
  HostCollectiveTimer timer(*this, "all_gather", bytes_of(out));
  MPI_Allgather(tensor.data_ptr(), count, type, out.data_ptr(), count, type, comm_);
  return out;
}

at::Tensor MpiCommunicator::reduce_scatter(const at::Tensor& input) {
  check_cpu_contiguous(input, "reduce_scatter");
  SIMCSEPP_CHECK(input.dim() >= 1 && input.size(0) % world_ == 0,
                 "reduce_scatter: dim 0 (" + std::to_string(input.dim() ? input.size(0) : 0) +
                     ") must be a multiple of the world size " + std::to_string(world_));
  const auto type = input.scalar_type();
  std::vector<int64_t> shape = input.sizes().vec();
  shape[0] /= world_;
  at::Tensor send = is_16bit_float(type) ? input.to(at::kFloat) : input;
  at::Tensor out = at::empty(shape, send.options());
  {
    InFlightScope scope(in_flight_, "reduce_scatter", bytes_of(input));
    HostCollectiveTimer timer(*this, "reduce_scatter", bytes_of(input));
    MPI_Reduce_scatter_block(send.data_ptr(), out.data_ptr(), checked_count(out.numel()),
                             transport_type(send.scalar_type()), mpi_op(ReduceOp::kSum, type), comm_);
  }
  return is_16bit_float(type) ? out.to(type) : out;
}

void MpiCommunicator::broadcast(at::Tensor& tensor, int root) {
  check_cpu_contiguous(tensor, "broadcast");
  SIMCSEPP_CHECK(root >= 0 && root < world_, "broadcast: root out of range");
  InFlightScope scope(in_flight_, "broadcast", bytes_of(tensor));
  HostCollectiveTimer timer(*this, "broadcast", bytes_of(tensor));
  MPI_Bcast(tensor.data_ptr(), checked_count(tensor.numel()), transport_type(tensor.scalar_type()), root, comm_);
}

void MpiCommunicator::barrier() {
  InFlightScope scope(in_flight_, "barrier", 0);
  MPI_Barrier(comm_);
}

void MpiCommunicator::abort(const std::string& reason) { abort_job(reason); }

}  // namespace simcsepp::cluster
