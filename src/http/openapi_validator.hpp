#pragma once
// Runs the real OpenAPI validator (tests/openapi/validate.mjs, an npm package pinned by its
// lock file) on a document and sample answers, for the tests that check the served document.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>

namespace ticketing::http {

inline std::filesystem::path OpenApiValidatorDir() {
  return std::filesystem::path(TICKETING_SOURCE_DIR) / "tests/openapi";
}

// Whether `npm ci --prefix tests/openapi` (scripts/setup) installed the validator.
inline bool OpenApiValidatorInstalled() {
  return std::filesystem::exists(OpenApiValidatorDir() /
                                 "node_modules/@seriousme/openapi-schema-validator");
}

struct ValidatorRun {
  int status = 0;      // the validator's exit status (0: valid, every sample matches)
  std::string output;  // what it printed
};

// `doc`: the OpenAPI document; `samples`: a JSON array of {method, path, status, body}.
inline ValidatorRun RunOpenApiValidator(std::string_view doc, std::string_view samples) {
  const auto tmp = std::filesystem::temp_directory_path() /
                   ("openapi-check-" + std::to_string(::getpid()));
  std::filesystem::create_directories(tmp);
  std::ofstream(tmp / "doc.json") << doc;
  std::ofstream(tmp / "samples.json") << samples;
  const std::string cmd = "node " + (OpenApiValidatorDir() / "validate.mjs").string() + " " +
                          (tmp / "doc.json").string() + " " + (tmp / "samples.json").string() +
                          " > " + (tmp / "out.txt").string() + " 2>&1";
  ValidatorRun run;
  run.status = std::system(cmd.c_str());
  std::ifstream out(tmp / "out.txt");
  run.output.assign(std::istreambuf_iterator<char>(out), std::istreambuf_iterator<char>());
  std::filesystem::remove_all(tmp);
  return run;
}

}  // namespace ticketing::http
