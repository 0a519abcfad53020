// manifest.cpp - manifest.json load/save (nlohmann::json).
#include "data/manifest.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "base/error.h"

namespace simcsepp::data {

namespace fs = std::filesystem;
using nlohmann::json;

Manifest Manifest::load(const std::string& corpus_dir) {
  const std::string path = (fs::path(corpus_dir) / kManifestFileName).string();
  std::ifstream in(path);
  if (!in) {
    throw Error("no manifest in corpus directory", path,
                "run `simcsepp prep` to completion first (a directory without manifest.json is an unfinished prep)");
  }
  std::stringstream text;
  text << in.rdbuf();
  Manifest m = parse(text.str(), path);
  int64_t next = 0;
  for (const auto& s : m.shards) {
    if (s.first_row != next || s.rows <= 0) {
      throw Error("shard row ranges are not contiguous", path + ": " + s.file, "re-run `simcsepp prep`");
    }
    next += s.rows;
  }
  if (next != m.total_rows) throw Error("total_rows differs from the shards' sum", path, "re-run `simcsepp prep`");
  if (m.columns.empty() || m.max_len < 2) throw Error("manifest has no columns or max_len < 2", path, "");
  return m;
}

Manifest Manifest::parse(const std::string& text, const std::string& path) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    throw Error(std::string("manifest is not valid JSON: ") + e.what(), path, "re-run `simcsepp prep`");
  }
  Manifest m;
  std::string key;
  try {
    key = "schema_version";
    m.schema_version = j.at(key).get<int>();
    if (m.schema_version != kShardSchemaVersion) {
      throw Error("manifest schema version " + std::to_string(m.schema_version) + ", this build reads " +
                      std::to_string(kShardSchemaVersion),
                  path + ": schema_version", "re-run `simcsepp prep` with this build");
    }
    key = "vocab_sha256", m.vocab_sha256 = j.at(key).get<std::string>();
    key = "vocab_size", m.vocab_size = j.at(key).get<int64_t>();
    key = "max_len", m.max_len = j.at(key).get<int>();
    key = "lowercase", m.lowercase = j.at(key).get<bool>();
    key = "columns", m.columns = j.at(key).get<std::vector<std::string>>();
    key = "id_dtype", m.id_dtype = j.at(key).get<std::string>();
    key = "fingerprint", m.fingerprint = j.at(key).get<std::string>();
    key = "total_rows", m.total_rows = j.at(key).get<int64_t>();
    key = "shards";
    for (const auto& s : j.at(key)) {
      ShardEntry e{s.at("file").get<std::string>(), s.at("rows").get<int64_t>(), s.at("first_row").get<int64_t>(),
                   s.at("sha256").get<std::string>()};
      if (s.contains("input_range")) {
        const auto& r = s.at("input_range");
        e.first_input = r.at("first").at(0).get<int32_t>(), e.first_offset = r.at("first").at(1).get<int64_t>();
        e.end_input = r.at("end").at(0).get<int32_t>(), e.end_offset = r.at("end").at(1).get<int64_t>();
      }
      m.shards.push_back(e);
    }
    key = "dedup", m.dedup = j.value(key, false);
    key = "inputs";
    for (const auto& s : j.at(key)) {
      m.inputs.push_back(InputSummary{s.at("path").get<std::string>(), s.at("lines").get<int64_t>(),
                                      s.at("rows").get<int64_t>(), s.at("empty").get<int64_t>(),
                                      s.at("truncated").get<int64_t>(), s.at("invalid_utf8").get<int64_t>(),
                                      s.value("duplicates", int64_t{0})});
    }
  } catch (const json::exception& e) {
    throw Error(std::string("manifest key missing or of the wrong type: ") + e.what(), path + ": " + key,
                "re-run `simcsepp prep`; do not edit manifest.json by hand");
  }
  return m;
}

std::string Manifest::to_json() const {
  json j;
  j["schema_version"] = schema_version;
  j["vocab_sha256"] = vocab_sha256;
  j["vocab_size"] = vocab_size;
  j["max_len"] = max_len;
  j["lowercase"] = lowercase;
  j["columns"] = columns;
  j["id_dtype"] = id_dtype;
  j["fingerprint"] = fingerprint;
  j["dedup"] = dedup;
  j["total_rows"] = total_rows;
  j["shards"] = json::array();
  for (const auto& s : shards) {
    json e = {{"file", s.file}, {"rows", s.rows}, {"first_row", s.first_row}, {"sha256", s.sha256}};
    if (s.first_input >= 0) {
      e["input_range"] = {{"first", {s.first_input, s.first_offset}}, {"end", {s.end_input, s.end_offset}}};
    }
    j["shards"].push_back(e);
  }
  j["inputs"] = json::array();
  for (const auto& s : inputs) {
    j["inputs"].push_back({{"path", s.path},
                           {"lines", s.lines},
                           {"rows", s.rows},
                           {"empty", s.empty},
                           {"truncated", s.truncated},
                           {"invalid_utf8", s.invalid_utf8},
                           {"duplicates", s.duplicates}});
  }
  return j.dump(2) + "\n";
}

void Manifest::save(const std::string& corpus_dir) const {
  write_file_atomically((fs::path(corpus_dir) / kManifestFileName).string(), to_json());
}

void write_file_atomically(const std::string& path, const std::string& text) {
  const fs::path final_path = path;
  const fs::path tmp = final_path.string() + ".tmp";
  {
    std::ofstream out(tmp);
    out << text;
    out.close();
    if (!out) throw Error("cannot write file", tmp.string(), "is the disk full or the directory read-only?");
  }
  fs::rename(tmp, final_path);
}

}  // namespace simcsepp::data
