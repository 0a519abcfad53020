// bus_bandwidth.cpp - nccl-tests bandwidth formulas.
#include "monitoring/bus_bandwidth.h"

#include "base/error.h"

namespace simcsepp::monitoring {

double bus_bandwidth_factor(const std::string& op, int world) {
  if (world < 1) {
    throw Error("world size " + std::to_string(world) + " for collective '" + op + "'", op,
                "pass the number of ranks taking part (>= 1)");
  }
  const double n = world;
  if (op == "all_reduce") return 2.0 * (n - 1) / n;
  if (op == "all_gather" || op == "reduce_scatter" || op == "all_to_all") return (n - 1) / n;
  if (op == "broadcast" || op == "reduce") return 1.0;
  throw Error("unknown collective '" + op + "'", op,
              "use all_reduce, all_gather, reduce_scatter, all_to_all, broadcast or reduce");
}

double algorithm_bandwidth(double bytes, double seconds) { return seconds > 0 ? bytes / seconds : 0.0; }

double bus_bandwidth(const std::string& op, double bytes, double seconds, int world) {
  return algorithm_bandwidth(bytes, seconds) * bus_bandwidth_factor(op, world);
}

}  // namespace simcsepp::monitoring
