// ticketing-loadgen: a flash sale of N buyers against a running server, then the books checked.
#include "loadgen/options.hpp"
#include "loadgen/runner.hpp"

#include <cstdlib>
#include <iostream>

int main(int argc, char** argv) {
  using namespace ticketing::loadgen;
  std::vector<std::string> args(argv + 1, argv + argc);
  try {
    bool help = false;
    Options o = Parse(
        args,
        [](const std::string& name) -> std::optional<std::string> {
          const char* v = std::getenv(name.c_str());
          if (!v) return std::nullopt;
          return std::string(v);
        },
        &help);
    if (help) {
      std::cout << Usage();
      return 0;
    }
    return Run(o, std::cout, std::cerr);
  } catch (const UsageError& e) {
    std::cerr << "ticketing-loadgen: " << e.what() << "\n";
    return 2;
  }
}
