// run_report.cpp - see run_report.h.
#include "report/run_report.h"

#include <cmath>
#include <filesystem>
#include <functional>
#include <sstream>

#include "report/html_page.h"
#include "report/html_text.h"
#include "simcsepp/build_config.h"

namespace simcsepp::report {

namespace {

// A field a chart would draw, and why a run may lack it.
struct Field {
  std::string name, label;
  NullIs null_is = NullIs::kNonFinite;
  std::string absent_because;
};

// One chart of the page: what it shows, and how its series come out of the history.
struct ChartPlan {
  std::string id, title, y_label, description;
  std::function<std::vector<Series>(const RunRecord&)> series;
  // Fields the chart looks for, for the list of absent ones (name -> reason).
  std::vector<Field> fields;
  std::string where;  // "step lines", "eval lines", "ranks lines"
};

std::vector<Series> from_records(const std::vector<nlohmann::json>& records, const std::vector<Field>& fields) {
  std::vector<Series> out;
  for (const auto& f : fields) out.push_back(MetricsHistory::series(records, f.name, f.null_is, f.label));
  return out;
}

constexpr const char* kNotInSteps = "not in the step lines";
constexpr const char* kNoEval =
    "no STS-B dev evaluation line (--eval-every 0, or the run stopped before its first evaluation)";

std::vector<ChartPlan> chart_plans() {
  std::vector<ChartPlan> plans;
  auto steps = [](std::vector<Field> fields) {
    return [fields](const RunRecord& r) { return from_records(r.history.steps, fields); };
  };
  auto evals = [](std::vector<Field> fields) {
    return [fields](const RunRecord& r) { return from_records(r.history.dev_evals(), fields); };
  };
  {
    std::vector<Field> f = {{"loss", "loss", NullIs::kNonFinite, kNotInSteps},
                            {"instance_loss", "instance (contrastive) part", NullIs::kNonFinite, kNotInSteps},
                            {"dcl_loss", "DCL part (before lambda)", NullIs::kNonFinite,
                             "not in the step lines (objectives without DCL log 0)"}};
    plans.push_back({"chart-loss", "Loss and its parts", "loss",
                     "Training loss of each update as rank 0 computed it (its sentences, the negatives of every rank), "
                     "with its instance-wise contrastive part and the dimension-wise (DCL) part.",
                     steps(f), f, "step lines"});
  }
  {
    constexpr const char* kNoRtd = "logged only by DiffCSE runs (--objective diffcse or diffcse++)";
    std::vector<Field> f = {{"rtd_loss", "RTD loss (before lambda)", NullIs::kNotMeasured, kNoRtd},
                            {"rtd_accuracy", "RTD token accuracy (rank 0)", NullIs::kNotMeasured, kNoRtd}};
    plans.push_back({"chart-rtd", "Replaced-token detection (DiffCSE)", "value",
                     "DiffCSE's conditional replaced-token-detection loss of each update and the share of rank 0's "
                     "tokens the discriminator classified right.",
                     steps(f), f, "step lines"});
  }
  {
    std::vector<Field> f = {{"lr", "learning rate", NullIs::kNonFinite, kNotInSteps}};
    plans.push_back({"chart-lr", "Learning rate", "learning rate", "The learning rate of each update (the schedule).",
                     steps(f), f, "step lines"});
  }
  {
    std::vector<Field> f = {{"grad_norm", "gradient norm", NullIs::kNonFinite, kNotInSteps}};
    plans.push_back({"chart-grad-norm", "Gradient norm", "global L2 norm",
                     "Global gradient norm of each update, before clipping.", steps(f), f, "step lines"});
  }
  {
    std::vector<Field> f = {{"sts_dev_spearman_x100", "STS-B dev Spearman x 100", NullIs::kNonFinite, kNoEval}};
    plans.push_back({"chart-dev", "STS-B dev", "Spearman x 100",
                     "STS-B dev Spearman correlation x 100 at each evaluation (step 0: before training); the circled "
                     "point is the best checkpoint, the one exported.",
                     evals(f), f, "eval lines"});
  }
  {
    std::vector<Field> f = {{"alignment", "alignment (lower is better)", NullIs::kNonFinite, kNoEval},
                            {"uniformity", "uniformity (lower is better)", NullIs::kNonFinite, kNoEval}};
    plans.push_back({"chart-align-uniform", "Alignment and uniformity", "value",
                     "Alignment (mean squared distance of positive pairs) and uniformity (log mean Gaussian potential) "
                     "of the dev embeddings at each evaluation (Wang and Isola, 2020).",
                     evals(f), f, "eval lines"});
  }
  {
    std::vector<Field> f = {{"effective_rank", "effective rank", NullIs::kNotMeasured,
                             "measured only on diagnostics steps (--diagnostics-every N; 0 turns it off)"}};
    plans.push_back({"chart-effective-rank", "Effective rank", "effective rank",
                     "Effective rank (exp of the entropy of the normalised singular values) of the batch embeddings "
                     "on diagnostics steps: a collapse of the embedding dimensions shows as a fall.",
                     steps(f), f, "step lines"});
  }
  {
    std::vector<Field> f = {{"step_s", "step (total)", NullIs::kNonFinite, kNotInSteps},
                            {"data_wait_s", "data wait", NullIs::kNonFinite, kNotInSteps},
                            {"forward_s", "forward", NullIs::kNonFinite, kNotInSteps},
                            {"backward_s", "backward", NullIs::kNonFinite, kNotInSteps},
                            {"communication_s", "communication (exposed)", NullIs::kNonFinite, kNotInSteps},
                            {"optimizer_s", "optimizer", NullIs::kNonFinite, kNotInSteps}};
    plans.push_back({"chart-step-time", "Step time split", "seconds",
                     "Where each update's time went on rank 0: waiting for data, forward, backward, the exposed "
                     "communication and the optimizer; the total is the period between two step starts.",
                     steps(f), f, "step lines"});
  }
  {
    std::vector<Field> f = {{"sentences_per_s", "sentences/s (all ranks)", NullIs::kNonFinite, kNotInSteps}};
    plans.push_back({"chart-throughput", "Throughput", "sentences / s",
                     "Sentences per second over all ranks, averaged from the start of this job to each step.", steps(f),
                     f, "step lines"});
  }
  const std::string no_ranks =
      "no ranks lines in metrics.jsonl (written at every --log-every-th step by simcsepp train since the report "
      "feature; earlier runs lack them)";
  plans.push_back({"chart-rank-step-time",
                   "Step time per rank",
                   "seconds",
                   "Each rank's own step time at the logging steps: a rank slower than the others (a straggler) "
                   "holds every collective up.",
                   [](const RunRecord& r) { return r.history.rank_series("step_s"); },
                   {{"step_s", "step time per rank", NullIs::kNonFinite, no_ranks}},
                   "ranks lines"});
  plans.push_back({"chart-rank-throughput",
                   "Throughput per rank",
                   "sentences / s",
                   "Each rank's sentences per second in its logging steps (its sentences over its step time).",
                   [](const RunRecord& r) { return r.history.rank_series("sentences_per_s"); },
                   {{"sentences_per_s", "sentences/s per rank", NullIs::kNonFinite, no_ranks}},
                   "ranks lines"});
  plans.push_back({"chart-skipped",
                   "Skipped updates",
                   "skipped so far",
                   "Updates skipped because the loss or a gradient was not finite (cumulative); --max-skipped-steps "
                   "in a row stop the run.",
                   [](const RunRecord& r) { return std::vector<Series>{r.history.skipped_cumulative()}; },
                   {{"skipped", "skipped", NullIs::kNonFinite, kNotInSteps}},
                   "step lines"});
  {
    std::vector<Field> f = {{"mfu", "model FLOP utilisation", NullIs::kNotMeasured,
                             "needs the device's peak FLOP/s: a GPU of a known kind, or --peak-tflops"}};
    plans.push_back({"chart-mfu", "Model FLOP utilisation", "fraction of peak",
                     "Model FLOPs per second of rank 0 over the device's peak.", steps(f), f, "step lines"});
  }
  {
    std::vector<Field> f = {
        {"gpu_memory_used_bytes", "GPU memory allocated", NullIs::kNotMeasured, "measured on CUDA devices only"}};
    plans.push_back({"chart-gpu-memory", "GPU memory", "bytes", "Memory held by tensors on rank 0's GPU.", steps(f), f,
                     "step lines"});
  }
  return plans;
}

std::string dir_name(const std::string& dir) {
  std::filesystem::path p(dir);
  return p.filename().empty() ? p.parent_path().filename().string() : p.filename().string();
}

}  // namespace

std::string default_report_path(const std::string& run_dir) {
  return (std::filesystem::path(run_dir) / "report.html").string();
}

std::string render_run_report(const RunRecord& run) {
  std::ostringstream html;
  html << page_begin("simcsepp run report: " + dir_name(run.dir));
  html << "<h1>Run report: " << escape_html(dir_name(run.dir)) << "</h1>\n";
  html << "<p>Run directory <code id=\"run-dir\">" << escape_html(run.dir) << "</code>, objective <b>"
       << escape_html(run.objective()) << "</b>; " << run.history.steps.size() << " step lines, "
       << run.history.evals.size() + (run.history.initial_eval ? 1 : 0) << " evaluations in "
       << escape_html(run.history.path) << ". Written by simcsepp " << SIMCSEPP_VERSION
       << " from the run directory's files (<code>simcsepp report</code> rewrites it).</p>\n";

  // Summary first: what a reader looks for.
  html << "<h2>Summary</h2>\n";
  if (run.summary) {
    html << key_value_table(*run.summary, "summary");
  } else {
    html << "<p class=\"note\" id=\"no-summary\">No summary.json: the run has not finished (it is still running, "
            "was preempted, or failed).</p>\n";
  }
  for (const auto& e : run.history.events) {
    const std::string kind = e.value("kind", "");
    if (kind == "preempted" || kind == "failed") {
      html << "<p class=\"note\">" << escape_html(kind) << " at step " << e.value("step", int64_t{-1})
           << (e.contains("reason") ? ": " + escape_html(e["reason"].dump()) : std::string()) << "</p>\n";
    }
  }

  // Charts: those the run can feed; the others (and absent series of drawn charts) listed.
  html << "<h2>Charts</h2>\n<div class=\"charts\">\n";
  std::vector<std::string> absent;
  for (const auto& plan : chart_plans()) {
    auto all = plan.series(run);
    bool none = true;
    for (const auto& s : all) none = none && s.points.empty();
    // A field is absent when its series has no point; the per-rank and derived charts have one
    // field for all their series.
    for (size_t i = 0; i < plan.fields.size(); ++i) {
      const auto& f = plan.fields[i];
      const bool missing = plan.fields.size() == all.size() ? all[i].points.empty() : none;
      if (missing) {
        absent.push_back("<li data-field=\"" + escape_html(f.name) + "\" data-chart=\"" + escape_html(plan.id) +
                         "\"><b>" + escape_html(plan.title) + "</b>: <code>" + escape_html(f.name) + "</code> (" +
                         escape_html(plan.where) + ") - " + escape_html(f.absent_because) + "</li>");
      }
    }
    std::vector<Series> present;
    for (auto& s : all) {
      if (!s.points.empty()) present.push_back(std::move(s));
    }
    if (present.empty()) continue;
    ChartSpec spec;
    spec.id = plan.id;
    spec.title = plan.title;
    spec.y_label = plan.y_label;
    spec.series = std::move(present);
    if (plan.id == "chart-dev") {
      const double best = run.best_dev();
      const int64_t step = run.best_step();
      if (std::isfinite(best) && step >= 0) {
        spec.markers.push_back({static_cast<double>(step), best,
                                "best " + display_number(best, 4) + " at step " + std::to_string(step), "best"});
      }
    }
    html << chart_section(spec, plan.description);
  }
  html << "</div>\n";
  html << "<h2>Not in this run's metrics</h2>\n";
  if (absent.empty()) {
    html << "<p id=\"absent-none\">Every chart above had its data.</p>\n";
  } else {
    html << "<ul id=\"absent\">\n";
    for (const auto& a : absent) html << a << "\n";
    html << "</ul>\n";
  }

  html << "<h2>Configuration</h2>\n<h3>run.json (whose directory this is)</h3>\n";
  if (run.identity) {
    html << key_value_table(*run.identity, "run-json");
  } else {
    html << "<p class=\"note\">No run.json in the run directory.</p>\n";
  }
  html << "<h3>Options (the config line of metrics.jsonl)</h3>\n";
  if (run.history.config) {
    auto options = *run.history.config;
    options.erase("kind");
    options.erase("time");
    html << key_value_table(options, "options");
  } else {
    html << "<p class=\"note\">No config line in metrics.jsonl (it is written when a run starts afresh).</p>\n";
  }

  if (!run.history.malformed.empty() || !run.notes.empty()) {
    html << "<h2>Lines and files left out</h2>\n<ul id=\"malformed\">\n";
    for (const auto& m : run.history.malformed) html << "<li>" << escape_html(m) << "</li>\n";
    for (const auto& n : run.notes) html << "<li>" << escape_html(n) << "</li>\n";
    html << "</ul>\n";
  }
  html << page_end();
  return html.str();
}

void write_run_report(const std::string& run_dir, const std::string& out_path) {
  write_page(out_path, render_run_report(load_run(run_dir)));
}

}  // namespace simcsepp::report
