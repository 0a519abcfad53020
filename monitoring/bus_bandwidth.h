// bus_bandwidth.h - collective bandwidth as nccl-tests reports it (doc/PERFORMANCE.md there).
//
// algorithm bandwidth = size / time. Bus bandwidth scales it by the traffic each rank's link
// really carries, so it is comparable with the hardware peak whatever the number of ranks n:
//   all_reduce:                          busbw = algbw * 2 (n - 1) / n
//   all_gather, reduce_scatter, all_to_all: busbw = algbw * (n - 1) / n
//   broadcast, reduce:                   busbw = algbw
// `size` follows nccl-tests: the all-reduce buffer; for all_gather the gathered (output) size,
// for reduce_scatter the input size (n times the output).
#pragma once

#include <string>

namespace simcsepp::monitoring {

// Factor busbw / algbw for `op` with `world` ranks; throws simcsepp::Error on an unknown op or
// world < 1. Known ops: all_reduce, all_gather, reduce_scatter, all_to_all, broadcast, reduce.
double bus_bandwidth_factor(const std::string& op, int world);

// Bytes per second; 0 when seconds <= 0 (an unmeasured call must not report infinity).
double algorithm_bandwidth(double bytes, double seconds);
double bus_bandwidth(const std::string& op, double bytes, double seconds, int world);

}  // namespace simcsepp::monitoring
