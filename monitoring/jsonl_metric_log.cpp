// jsonl_metric_log.cpp - appends step/eval/checkpoint records as JSON lines.
#include "monitoring/jsonl_metric_log.h"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>

#include "cluster/base/error.h"
#include "cluster/base/log.h"

namespace simcsepp::monitoring {

namespace {

constexpr auto kFlushEvery = std::chrono::seconds(5);

double unix_now() { return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count(); }

// JSON has no NaN/Inf: write null so every line stays valid JSON.
nlohmann::json number(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

void put(nlohmann::json& j, const char* key, const std::optional<double>& v) {
  if (v) j[key] = number(*v);
}

}  // namespace

JsonlMetricLog::JsonlMetricLog(const std::string& path, int rank)
    : path_(path), rank_(rank), last_flush_(std::chrono::steady_clock::now()) {
  file_ = std::fopen(path.c_str(), "a");
  if (!file_) {
    throw Error(std::string("cannot open the metric log for appending: ") + std::strerror(errno), path,
                "check that the run directory exists and is writable");
  }
}

JsonlMetricLog::~JsonlMetricLog() {
  if (file_) std::fclose(file_);
}

void JsonlMetricLog::write_step(const StepRecord& r) {
  nlohmann::json j;
  j["kind"] = "step";
  j["time"] = r.timestamp_seconds ? *r.timestamp_seconds : unix_now();
  j["rank"] = rank_;
  j["step"] = r.step;
  put(j, "epoch", r.epoch);
  j["loss"] = number(r.loss);
  put(j, "instance_loss", r.instance_loss);
  put(j, "dcl_loss", r.dcl_loss);
  j["lr"] = number(r.learning_rate);
  put(j, "grad_norm", r.grad_norm);
  j["step_seconds"] = number(r.step_seconds);
  j["data_wait_seconds"] = number(r.data_wait_seconds);
  j["forward_seconds"] = number(r.forward_seconds);
  j["backward_seconds"] = number(r.backward_seconds);
  j["communication_seconds"] = number(r.communication_seconds);
  j["optimizer_seconds"] = number(r.optimizer_seconds);
  j["sentences"] = r.sentences;
  j["tokens"] = r.tokens;
  j["skipped"] = r.skipped;
  put(j, "data_queue_depth", r.data_queue_depth);
  put(j, "mfu", r.model_flops_utilization);
  put(j, "effective_rank", r.effective_rank);
  put(j, "gpu_memory_used_bytes", r.gpu_memory_used_bytes);
  put(j, "gpu_memory_reserved_bytes", r.gpu_memory_reserved_bytes);
  write_line(j.dump(), false);
}

void JsonlMetricLog::write_eval(const EvalRecord& r) {
  nlohmann::json j;
  j["kind"] = "eval";
  j["time"] = unix_now();
  j["rank"] = rank_;
  j["step"] = r.step;
  j["spearman"] = number(r.spearman);
  put(j, "alignment", r.alignment);
  put(j, "uniformity", r.uniformity);
  write_line(j.dump(), true);
}

void JsonlMetricLog::write_checkpoint(double seconds) {
  nlohmann::json j;
  j["kind"] = "checkpoint";
  j["time"] = unix_now();
  j["rank"] = rank_;
  j["seconds"] = number(seconds);
  write_line(j.dump(), true);
}

void JsonlMetricLog::flush() {
  std::lock_guard<std::mutex> lock(mutex_);
  std::fflush(file_);
  last_flush_ = std::chrono::steady_clock::now();
}

void JsonlMetricLog::write_line(const std::string& line, bool flush_now) {
  std::lock_guard<std::mutex> lock(mutex_);
  // One fwrite per line: concurrent writers never interleave inside a line.
  const std::string with_newline = line + "\n";
  if (std::fwrite(with_newline.data(), 1, with_newline.size(), file_) != with_newline.size()) {
    // A full disk must not kill training; say so (once per failure burst is enough in practice).
    LOG_WARN("metric log " << path_ << ": write failed: " << std::strerror(errno));
  }
  const auto now = std::chrono::steady_clock::now();
  if (flush_now || now - last_flush_ >= kFlushEvery) {
    std::fflush(file_);
    last_flush_ = now;
  }
}

}  // namespace simcsepp::monitoring
