#include "tests/support/services.hpp"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>

#include <unistd.h>

namespace ticketing::testing {
namespace {

std::string RunCapture(const std::string& cmd) {
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(cmd.c_str(), "r"), pclose);
  if (!pipe) return {};
  std::string out;
  char buf[4096];
  while (std::size_t n = fread(buf, 1, sizeof buf, pipe.get())) out.append(buf, n);
  return out;
}

std::string Script() { return std::string(TICKETING_SOURCE_DIR) + "/scripts/services"; }

Services* g_services = nullptr;

void StopAll() {
  if (!g_services) return;
  RunCapture(Script() + " stop " + g_services->dir + " >/dev/null 2>&1");
  std::error_code ec;
  if (!std::getenv("TICKETING_KEEP_TEST_DIRS")) std::filesystem::remove_all(g_services->dir, ec);
}

}  // namespace

const std::string& Services::Get(const std::string& key) const {
  auto it = env.find(key);
  if (it == env.end()) {
    std::cerr << "scripts/services did not print " << key << "\n";
    std::abort();
  }
  return it->second;
}

namespace {

const Services& StartServices(bool cluster) {
  if (g_services) return *g_services;
  char tmpl[] = "/tmp/ticketing-test-XXXXXX";
  if (!mkdtemp(tmpl)) {
    std::cerr << "mkdtemp failed\n";
    std::exit(2);
  }
  auto* s = new Services;
  s->dir = tmpl;
  std::string out = RunCapture(Script() + " start " + (cluster ? "--cluster " : "") + s->dir);
  std::size_t pos = 0;
  while (pos < out.size()) {
    std::size_t nl = out.find('\n', pos);
    if (nl == std::string::npos) nl = out.size();
    std::string line = out.substr(pos, nl - pos);
    pos = nl + 1;
    auto eq = line.find('=');
    if (eq == std::string::npos || eq == 0) continue;
    std::string key = line.substr(0, eq);
    if (key.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789") != std::string::npos)
      continue;
    s->env[key] = line.substr(eq + 1);
  }
  if (!s->env.count("REDIS_PORT") || !s->env.count("DB_PORT")) {
    std::cerr << "scripts/services start failed; output:\n" << out << "\n";
    std::exit(2);
  }
  g_services = s;
  std::atexit(StopAll);
  // atexit does not run when the test process aborts (a sanitizer report, a timeout's
  // SIGKILL): a detached watcher stops the services once this process is gone.
  const std::string remove = std::getenv("TICKETING_KEEP_TEST_DIRS") ? "" : "; rm -rf " + s->dir;
  std::string watcher = "setsid sh -c 'while kill -0 " + std::to_string(getpid()) +
                        " 2>/dev/null; do sleep 1; done; " + Script() + " stop " + s->dir +
                        " >/dev/null 2>&1" + remove + "' </dev/null >/dev/null 2>&1 &";
  if (std::system(watcher.c_str()) != 0) std::cerr << "could not start the services watcher\n";
  return *s;
}

}  // namespace

const Services& SharedServices() { return StartServices(false); }
const Services& SharedClusterServices() { return StartServices(true); }

void StopDatabase(const Services& s) {
  RunCapture(Script() + " stop-db " + s.dir + " >/dev/null 2>&1");
}
void StartDatabase(const Services& s) {
  RunCapture(Script() + " start-db " + s.dir + " >/dev/null 2>&1");
}

}  // namespace ticketing::testing
