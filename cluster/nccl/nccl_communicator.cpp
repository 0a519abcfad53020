// nccl_communicator.cpp - NCCL collectives on a dedicated stream, ordered by events, watched
// for async errors and timeouts.
#include "cluster/nccl/nccl_communicator.h"

#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/torch.h>

#include <exception>
#include <sstream>

#include "base/error.h"
#include "base/log.h"
#include "cluster/mpi_runtime.h"
#include "cluster/nccl/nccl_bootstrap.h"

namespace simcsepp::cluster {

#define SIMCSEPP_NCCL(call) check_call((call), #call, __FILE__, __LINE__)

namespace {

void cuda_check(cudaError_t e, const char* call, const char* file, int line) {
  if (e == cudaSuccess) return;
  std::ostringstream os;
  os << call << " failed at " << file << ":" << line << ": " << cudaGetErrorString(e);
  abort_job(os.str());
}
#define SIMCSEPP_CUDA(call) cuda_check((call), #call, __FILE__, __LINE__)

ncclDataType_t nccl_type(at::ScalarType t) {
  switch (t) {
    case at::kFloat:
      return ncclFloat32;
    case at::kDouble:
      return ncclFloat64;
    case at::kHalf:
      return ncclFloat16;
    case at::kBFloat16:
      return ncclBfloat16;
    case at::kInt:
      return ncclInt32;
    case at::kLong:
      return ncclInt64;
    case at::kByte:
    case at::kBool:
      return ncclUint8;
    default:
      throw Error(std::string("dtype ") + c10::toString(t) + " is not supported by the NCCL communicator",
                  "NcclCommunicator", "use float32/float64/float16/bfloat16/int32/int64/uint8/bool");
  }
}

ncclRedOp_t nccl_op(ReduceOp op, at::ScalarType t) {
  switch (op) {
    case ReduceOp::kSum:
      SIMCSEPP_CHECK(t != at::kBool, "sum of bool tensors is not defined; use kMax (logical or)");
      return ncclSum;
    case ReduceOp::kAvg:
      SIMCSEPP_CHECK(at::isFloatingType(t), "kAvg needs a floating dtype");
      return ncclAvg;
    case ReduceOp::kMax:
      return ncclMax;
  }
  return ncclSum;
}

void check_cuda_contiguous(const at::Tensor& t, int device, const char* op) {
  SIMCSEPP_CHECK(t.defined(), std::string(op) + ": undefined tensor");
  SIMCSEPP_CHECK(t.is_cuda() && t.get_device() == device,
                 std::string(op) + ": the NCCL communicator takes tensors on cuda:" + std::to_string(device) +
                     ", got " + t.device().str());
  SIMCSEPP_CHECK(t.is_contiguous(), std::string(op) + ": tensor must be contiguous");
}

long long bytes_of(const at::Tensor& t) { return static_cast<long long>(t.numel() * t.element_size()); }

class NcclWork final : public CollectiveWork {
 public:
  NcclWork(std::shared_ptr<CUevent_st> done, int device) : done_(std::move(done)), device_(device) {}
  void wait() override {
    c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(device_));
    SIMCSEPP_CUDA(cudaStreamWaitEvent(c10::cuda::getCurrentCUDAStream(device_).stream(), done_.get(), 0));
  }

 private:
  std::shared_ptr<CUevent_st> done_;
  int device_;
};

}  // namespace

NcclCommunicator::NcclCommunicator(MPI_Comm bootstrap, int device_index, double timeout_s)
    : device_(device_index), timeout_s_(timeout_s), uncaught_at_construction_(std::uncaught_exceptions()) {
  MPI_Comm_rank(bootstrap, &rank_);
  MPI_Comm_size(bootstrap, &world_);
  c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(device_));
  stream_ = std::make_unique<c10::cuda::CUDAStream>(
      c10::cuda::getStreamFromPool(/*isHighPriority=*/true, static_cast<c10::DeviceIndex>(device_)));
  SIMCSEPP_CUDA(cudaEventCreateWithFlags(&ready_, cudaEventDisableTiming));
  watchdog_ = std::make_unique<CollectiveWatchdog>(
      std::chrono::milliseconds(100), [this] { return poll(); },
      [this](const std::string& failure) { abort_all(failure); });

  const ncclUniqueId id = broadcast_nccl_unique_id(bootstrap, 0, timeout_s_);
  ncclComm_t comm = nullptr;
  {
    // A peer that never arrives leaves ncclCommInitRank blocked: the watchdog times it out.
    InFlightScope scope(in_flight_, "ncclCommInitRank", 0);
    SIMCSEPP_NCCL(ncclCommInitRank(&comm, world_, id, rank_));
  }
  comm_.store(comm);
  int version = 0;
  ncclGetVersion(&version);
  LOG_INFO("NCCL " << version << " communicator: " << world_ << " ranks, cuda:" << device_);
}

// Unverified on a GPU (none was available when this was written; it compiles and links): the
// order below follows NCCL's documented rules (finalize flushes, destroy frees, abort never
// waits) but no test has run it.
NcclCommunicator::~NcclCommunicator() {
  c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(device_));
  ncclComm_t comm = comm_.load();
  // Finalize waits for the peers' matching operations: while an exception unwinds, after an
  // async NCCL error or with a sticky CUDA error they may never come. Abort instead (it does
  // not wait; the peers see the abort as an error or time out).
  const std::string failure = unhealthy_reason();
  if (!failure.empty()) {
    LOG_WARN("NCCL communicator: aborting instead of finalising: " << failure);
    watchdog_.reset();
    if (ncclComm_t c = comm_.exchange(nullptr)) ncclCommAbort(c);
  } else if (comm) {
    // The watchdog stays alive through finalisation: queued collectives and the finalize itself
    // are watched, so a peer that never finishes turns into a job abort after the timeout, not a
    // hang at exit. comm_ stays set meanwhile, so the watchdog's abort reaches this communicator.
    {
      InFlightScope scope(in_flight_, "ncclCommFinalize", 0);
      if (stream_) cudaStreamSynchronize(stream_->stream());
      ncclCommFinalize(comm);  // blocking communicator: returns once flushed
    }
    watchdog_.reset();
    if (ncclComm_t c = comm_.exchange(nullptr)) ncclCommDestroy(c);
  }
  watchdog_.reset();
  pending_.clear();
  if (ready_) cudaEventDestroy(ready_);
}

std::string NcclCommunicator::unhealthy_reason() {
  if (std::uncaught_exceptions() > uncaught_at_construction_) return "an exception is in flight";
  if (ncclComm_t comm = comm_.load()) {
    ncclResult_t async = ncclSuccess;
    ncclCommGetAsyncError(comm, &async);
    if (async != ncclSuccess && async != ncclInProgress)
      return std::string("NCCL asynchronous error: ") + ncclGetErrorString(async);
  }
  // A sticky error (illegal address, ...) poisons the context: every later call returns it.
  if (stream_) {
    const cudaError_t e = cudaStreamQuery(stream_->stream());
    if (e != cudaSuccess && e != cudaErrorNotReady) return std::string("CUDA error: ") + cudaGetErrorString(e);
  }
  return {};
}

void NcclCommunicator::check_call(ncclResult_t result, const char* call, const char* file, int line) {
  if (result == ncclSuccess || result == ncclInProgress) return;
  std::ostringstream os;
  os << call << " failed at " << file << ":" << line << ": " << ncclGetErrorString(result);
  if (const char* last = ncclGetLastError(comm_.load())) {
    if (*last) os << " (" << last << ")";
  }
  os << ". HINT: NCCL_DEBUG=WARN shows NCCL's own diagnosis; check the other ranks' logs";
  abort_all(os.str());
}

c10::cuda::CUDAStream NcclCommunicator::enter(const at::Tensor& t, const char* op) {
  check_cuda_contiguous(t, device_, op);
  auto current = c10::cuda::getCurrentCUDAStream(static_cast<c10::DeviceIndex>(device_));
  SIMCSEPP_CUDA(cudaEventRecord(ready_, current.stream()));
  SIMCSEPP_CUDA(cudaStreamWaitEvent(stream_->stream(), ready_, 0));
  next_start_.reset();
  cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
  SIMCSEPP_CUDA(cudaStreamIsCapturing(current.stream(), &capture));
  if (has_collective_listeners() && capture == cudaStreamCaptureStatusNone) {
    cudaEvent_t raw;
    SIMCSEPP_CUDA(cudaEventCreate(&raw));
    next_start_ = Event(raw, [](cudaEvent_t e) { cudaEventDestroy(e); });
    SIMCSEPP_CUDA(cudaEventRecord(raw, stream_->stream()));
  }
  return current;
}

NcclCommunicator::Event NcclCommunicator::record_done(cudaStream_t stream, bool timing) {
  cudaEvent_t raw;
  SIMCSEPP_CUDA(cudaEventCreateWithFlags(&raw, timing ? cudaEventDefault : cudaEventDisableTiming));
  Event done(raw, [](cudaEvent_t e) { cudaEventDestroy(e); });
  SIMCSEPP_CUDA(cudaEventRecord(raw, stream));
  return done;
}

void NcclCommunicator::watch(Event done, Event timing_start, const char* op, long long bytes) {
  std::lock_guard<std::mutex> lock(pending_mutex_);
  pending_.push_back({std::move(done), std::move(timing_start), op, bytes, ++sequence_, std::chrono::steady_clock::now()});
}

NcclCommunicator::Event NcclCommunicator::leave(const char* op, long long bytes) {
  Event start = std::move(next_start_);
  Event done = record_done(stream_->stream(), start != nullptr);
  cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
  cudaStreamIsCapturing(stream_->stream(), &capture);
  // Events recorded inside a CUDA graph capture cannot be queried: those are not watched.
  if (capture == cudaStreamCaptureStatusNone) watch(done, start, op, bytes);
  return done;
}

void NcclCommunicator::all_reduce(at::Tensor& tensor, ReduceOp op) { all_reduce_async(tensor, op)->wait(); }

std::unique_ptr<CollectiveWork> NcclCommunicator::all_reduce_async(at::Tensor& tensor, ReduceOp op) {
  c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(device_));
  enter(tensor, "all_reduce");
  c10::cuda::CUDACachingAllocator::recordStream(tensor.storage().data_ptr(), *stream_);
  SIMCSEPP_NCCL(ncclAllReduce(tensor.data_ptr(), tensor.data_ptr(), tensor.numel(), nccl_type(tensor.scalar_type()),
                              nccl_op(op, tensor.scalar_type()), comm_.load(), stream_->stream()));
  return std::make_unique<NcclWork>(leave("all_reduce", bytes_of(tensor)), device_);
}

at::Tensor NcclCommunicator::all_gather(const at::Tensor& tensor) {
  c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(device_));
  auto current = enter(tensor, "all_gather");
  std::vector<int64_t> shape(tensor.sizes().begin(), tensor.sizes().end());
  if (shape.empty())
    shape.push_back(world_);
  else
    shape[0] *= world_;
  at::Tensor out = at::empty(shape, tensor.options());
  c10::cuda::CUDACachingAllocator::recordStream(tensor.storage().data_ptr(), *stream_);
  c10::cuda::CUDACachingAllocator::recordStream(out.storage().data_ptr(), *stream_);
  SIMCSEPP_NCCL(ncclAllGather(tensor.data_ptr(), out.data_ptr(), tensor.numel(), nccl_type(tensor.scalar_type()),
                              comm_.load(), stream_->stream()));
  SIMCSEPP_CUDA(cudaStreamWaitEvent(current.stream(), leave("all_gather", bytes_of(out)).get(), 0));
  return out;
}

at::Tensor NcclCommunicator::reduce_scatter(const at::Tensor& input) {
  c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(device_));
  SIMCSEPP_CHECK(input.dim() >= 1 && input.size(0) % world_ == 0,
                 "reduce_scatter: dim 0 must be a multiple of the world size " + std::to_string(world_));
  auto current = enter(input, "reduce_scatter");
  std::vector<int64_t> shape = input.sizes().vec();
  shape[0] /= world_;
  at::Tensor out = at::empty(shape, input.options());
  c10::cuda::CUDACachingAllocator::recordStream(input.storage().data_ptr(), *stream_);
  c10::cuda::CUDACachingAllocator::recordStream(out.storage().data_ptr(), *stream_);
  SIMCSEPP_NCCL(ncclReduceScatter(input.data_ptr(), out.data_ptr(), out.numel(), nccl_type(input.scalar_type()),
                                  nccl_op(ReduceOp::kSum, input.scalar_type()), comm_.load(), stream_->stream()));
  SIMCSEPP_CUDA(cudaStreamWaitEvent(current.stream(), leave("reduce_scatter", bytes_of(input)).get(), 0));
  return out;
}

void NcclCommunicator::broadcast(at::Tensor& tensor, int root) {
  c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(device_));
  SIMCSEPP_CHECK(root >= 0 && root < world_, "broadcast: root out of range");
  auto current = enter(tensor, "broadcast");
  c10::cuda::CUDACachingAllocator::recordStream(tensor.storage().data_ptr(), *stream_);
  SIMCSEPP_NCCL(ncclBroadcast(tensor.data_ptr(), tensor.data_ptr(), tensor.numel(), nccl_type(tensor.scalar_type()),
                              root, comm_.load(), stream_->stream()));
  SIMCSEPP_CUDA(cudaStreamWaitEvent(current.stream(), leave("broadcast", bytes_of(tensor)).get(), 0));
}

void NcclCommunicator::barrier() {
  c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(device_));
  at::Tensor token = at::zeros({1}, at::TensorOptions().dtype(at::kFloat).device(at::kCUDA, device_));
  all_reduce(token, ReduceOp::kSum);
  InFlightScope scope(in_flight_, "barrier", 0);
  SIMCSEPP_CUDA(cudaStreamSynchronize(stream_->stream()));
}

void NcclCommunicator::watch_device_work(const char* what) {
  c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(device_));
  watch(record_done(c10::cuda::getCurrentCUDAStream(static_cast<c10::DeviceIndex>(device_)).stream(), false), nullptr,
        what, 0);
}

void NcclCommunicator::abort(const std::string& reason) { abort_all(reason); }

void NcclCommunicator::abort_all(const std::string& reason) {
  // ncclCommAbort unblocks any NCCL call in flight on this rank; MPI_Abort ends the others.
  if (ncclComm_t comm = comm_.exchange(nullptr)) ncclCommAbort(comm);
  abort_job(reason);
}

std::string NcclCommunicator::poll() {
  cudaSetDevice(device_);  // the watchdog thread's own CUDA context binding
  if (std::string overdue = in_flight_.overdue(timeout_s_); timeout_s_ > 0 && !overdue.empty()) return overdue;
  if (ncclComm_t comm = comm_.load()) {
    ncclResult_t async = ncclSuccess;
    ncclCommGetAsyncError(comm, &async);
    if (async != ncclSuccess && async != ncclInProgress) {
      std::ostringstream os;
      os << "NCCL asynchronous error: " << ncclGetErrorString(async);
      if (const char* last = ncclGetLastError(comm); last && *last) os << " (" << last << ")";
      os << ". HINT: a peer died or the network failed; NCCL_DEBUG=WARN on all ranks shows where";
      return os.str();
    }
  }
  std::lock_guard<std::mutex> lock(pending_mutex_);
  while (!pending_.empty()) {
    Pending& p = pending_.front();
    cudaError_t state = cudaEventQuery(p.done.get());
    if (state == cudaSuccess) {
      float ms = 0;
      if (p.timing_start && cudaEventElapsedTime(&ms, p.timing_start.get(), p.done.get()) == cudaSuccess) {
        notify_collective({p.op, static_cast<double>(p.bytes), ms / 1e3, false});
      }
      pending_.pop_front();
      continue;
    }
    if (state != cudaErrorNotReady) {
      return std::string("CUDA error while waiting for NCCL ") + p.op + ": " + cudaGetErrorString(state);
    }
    double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - p.start).count();
    if (timeout_s_ > 0 && waited > timeout_s_) {
      std::ostringstream os;
      os << "NCCL " << p.op << " #" << p.sequence << " (" << p.bytes << " bytes) has not completed after " << waited
         << " s (timeout " << timeout_s_
         << " s): another rank is dead, stuck or called a different collective. HINT: read the "
            "other ranks' logs; raise SIMCSEPP_COLLECTIVE_TIMEOUT_S only if steps legitimately "
            "take that long";
      return os.str();
    }
    break;
  }
  return {};
}

}  // namespace simcsepp::cluster
