#pragma once
// Runs the built ticketing-loadgen binary against a test server and reads its JSON report.
#include "tests/support/server_process.hpp"
#include "tests/support/services.hpp"

#include <sys/wait.h>

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace ticketing::testing {

struct LoadgenRun {
  int exit_code = -1;
  std::string output;  // stdout + stderr
  boost::json::object report;

  // The named check's verdict; fails the test if the report does not list it.
  bool Check(const std::string& name) const {
    for (const auto& c : report.at("checks").as_array()) {
      if (c.at("name").as_string() == name) return c.at("ok").as_bool();
    }
    ADD_FAILURE() << "no check named " << name << " in the report\n" << output;
    return false;
  }
};

inline std::string LoadgenBinary() { return std::string(TICKETING_BINARY_DIR) + "/ticketing-loadgen"; }

// Runs the loadgen against `server` with the stores of `services` and extra `args`.
inline LoadgenRun RunLoadgen(const Services& services, const ServerProcess& server,
                             const std::vector<std::string>& args, const std::string& tag) {
  const std::string json_path = services.dir + "/loadgen-" + tag + ".json";
  const std::string log_path = services.dir + "/loadgen-" + tag + ".log";
  std::string cmd = LoadgenBinary() + " --url http://127.0.0.1:" + std::to_string(server.port()) +
                    " --secret " + kTestSecret + " --services-env " + services.dir + "/env" +
                    " --progress off --json " + json_path;
  for (const auto& a : args) cmd += " '" + a + "'";
  cmd += " > " + log_path + " 2>&1";
  LoadgenRun run;
  int status = std::system(cmd.c_str());
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream log(log_path);
  std::stringstream ss;
  ss << log.rdbuf();
  run.output = ss.str();
  std::ifstream j(json_path);
  std::stringstream js;
  js << j.rdbuf();
  if (!js.str().empty()) run.report = boost::json::parse(js.str()).as_object();
  return run;
}

}  // namespace ticketing::testing
