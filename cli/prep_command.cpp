// prep_command.cpp - `simcsepp prep`: text / gzip / zstd / CSV inputs -> HDF5 shards + manifest.json.
// The pipeline itself is data/prep.h; this file binds its options, the MPI job (mpirun/srun:
// every rank takes a share, cluster/byte_collectives.h) and prints the summary.
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <thread>

#include "base/error.h"
#include "cluster/byte_collectives.h"
#include "data/prep.h"
#include "cli/command.h"
#include "base/exit_codes.h"
#include "cli/output_paths.h"

namespace simcsepp::cli {

namespace {

class PrepCommand final : public Command {
 public:
  std::string name() const override { return "prep"; }
  std::string summary() const override { return "tokenize text/CSV corpora into sharded HDF5 for training"; }

  void add_options(po::options_description& options) override {
    options.add_options()("input,i", po::value(&o_.inputs)->multitoken(),
                          "inputs: files, quoted globs ('data/*.txt.zst') or directories (every file below); "
                          "text (one sentence per line), .gz or .zst text, or .csv with header "
                          "sent0,sent1[,hard_neg]; all of one kind")(
        "output,o", po::value(&o_.output_dir)->required(), "output directory for shards and manifest.json")(
        "vocab", po::value(&o_.vocab_path), "BERT vocab.txt (required unless --merge)")(
        "cased", po::bool_switch(&cased_), "keep case and accents (default: uncased, like bert-base-uncased)")(
        "max-len", po::value(&o_.max_len)->default_value(32), "tokens per row including [CLS] and [SEP]")(
        "shard-rows", po::value(&o_.shard_rows)->default_value(100000), "rows per HDF5 shard")(
        "threads", po::value(&threads_)->default_value(0),
        "tokenizer threads per process (0: the cores of the node divided by the processes on it)")(
        "dedup", po::bool_switch(&o_.dedup),
        "drop exact duplicates (whitespace-normalised, ASCII-lowercased when uncased); the first one in input "
        "order is kept")(
        "part", po::value(&part_),
        "i/K: write part i (0-based) of K independent jobs (Slurm job arrays); then `prep --merge`")(
        "merge", po::bool_switch(&merge_), "join the finished parts in --output into manifest.json")(
        "block-bytes", po::value(&o_.block_bytes)->default_value(64 << 20),
        "input bytes per scan block of plain text (parallelism only; the output never depends on it)")(
        "overwrite", po::bool_switch(&o_.overwrite), "replace a different prepared corpus already in --output")(
        "no-progress", po::bool_switch(&no_progress_), "no progress bar / progress lines");
  }

  po::positional_options_description positional() const override {
    po::positional_options_description p;
    p.add("input", -1);
    return p;
  }

  void validate(const po::variables_map&) override {
    o_.lowercase = !cased_;
    o_.progress = !no_progress_;
    if (merge_) {
      if (!o_.inputs.empty() || !part_.empty()) {
        throw Error("--merge takes only --output", "--merge", "simcsepp prep --merge -o DIR (after every --part i/K)");
      }
      return;
    }
    if (o_.inputs.empty()) throw Error("no inputs", "--input", "give files, globs or directories to prepare");
    if (o_.vocab_path.empty()) throw Error("--vocab is required", "--vocab", "give the model's vocab.txt");
    if (threads_ < 0) throw Error("--threads must be at least 0", "--threads", "0 picks the cores per process");
    if (o_.shard_rows < 1) throw Error("--shard-rows must be at least 1", "--shard-rows", "the default is 100000");
    if (o_.block_bytes < 1) throw Error("--block-bytes must be at least 1", "--block-bytes", "the default is 67108864");
    if (!part_.empty()) {
      int i = -1, k = -1;
      char rest = 0;
      if (std::sscanf(part_.c_str(), "%d/%d%c", &i, &k, &rest) != 2 || k < 1 || i < 0 || i >= k) {
        throw Error("--part " + part_ + " is out of range or malformed", "--part",
                    "give i/K with 0 <= i < K, e.g. --part ${SLURM_ARRAY_TASK_ID}/${SLURM_ARRAY_TASK_COUNT} with --array=0-(K-1)");
      }
      o_.part = i, o_.parts = k, o_.part_mode = true;
    }
    require_input_file(o_.vocab_path, "--vocab");
    for (const auto& in : o_.inputs) {
      std::error_code ec;
      if (std::filesystem::exists(in) && std::filesystem::exists(o_.output_dir) &&
          std::filesystem::equivalent(in, o_.output_dir, ec)) {
        throw Error("--output is one of the inputs", "--output", "name a new directory for the shards");
      }
    }
    require_output_directory(o_.output_dir, "--output");
  }

  int run() override {
    if (merge_) {
      const auto result = data::merge_prep_parts(o_.output_dir);
      std::cout << "prep --merge: " << o_.output_dir << "\n" << data::format_prep_summary(result) << "\n";
      return kExitOk;
    }
    // Under mpirun/srun every rank takes a share of the scan and of the shards.
    const auto mpi = cluster::ByteCollectives::from_launcher();
    data::PrepPeers peers;
    int local_size = 1;
    if (mpi) {
      peers.rank = mpi->topology().rank;
      peers.world = mpi->topology().world_size;
      local_size = mpi->topology().local_size;
      peers.all_gather = [&](const std::string& mine) { return mpi->all_gather(mine); };
      peers.all_to_all = [&](std::vector<std::string> to) { return mpi->all_to_all(std::move(to)); };
    }
    const int cores = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
    o_.threads = threads_ > 0 ? threads_ : std::max(1, cores / std::max(1, local_size));
    if (peers.rank != 0) o_.progress = false;
    const auto result = data::run_prep(o_, peers);
    if (peers.rank == 0) std::cout << "prep: " << o_.output_dir << "\n" << data::format_prep_summary(result) << "\n";
    return kExitOk;
  }

 private:
  data::PrepOptions o_;
  bool cased_ = false;
  bool no_progress_ = false;
  bool merge_ = false;
  int threads_ = 0;
  std::string part_;
};

}  // namespace

std::unique_ptr<Command> make_prep_command() { return std::make_unique<PrepCommand>(); }

}  // namespace simcsepp::cli
