// config_file.h - the --config INI file of every subcommand, read with file:line in every error.
//
//   # comment (also ';')           model = /models/bert-base-uncased     (top level: this command)
//   [train]                        batch-size = 64                       (only `simcsepp train`)
//   [prep]                         vocab = /models/bert/vocab.txt        (only `simcsepp prep`)
//   train.max-steps = 2000         (a dotted key is the same as the key in its section)
//
// One file can configure several commands: keys at the top level belong to the command being
// run, keys in a [<command>] section (or prefixed "<command>.") only to that command; sections
// of the other commands are skipped. Unknown sections, unknown keys, a key given twice, a line
// that is not `key = value` and a value the option rejects are Errors naming FILE:LINE and the key.
#pragma once

#include <boost/program_options.hpp>
#include <string>
#include <vector>

namespace simcsepp::cli {

// Stores the file's values for `command` into vm (po::store semantics: values already in vm -
// the command line's - win). `commands` are the names of all subcommands (valid sections).
void store_config_file(const std::string& path, const std::string& command, const std::vector<std::string>& commands,
                       const boost::program_options::options_description& options,
                       boost::program_options::variables_map& vm);

}  // namespace simcsepp::cli
