#include "redis/lua_prelude.hpp"

#include <stdexcept>
#include <utility>
#include <vector>

namespace ticketing::redis {

namespace {

bool IsWordChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

// Whether `name` occurs in `text` as a whole word.
bool UsesWord(std::string_view text, std::string_view name) {
  for (std::size_t at = text.find(name); at != std::string_view::npos;
       at = text.find(name, at + 1)) {
    const bool starts = at == 0 || !IsWordChar(text[at - 1]);
    const std::size_t end = at + name.size();
    const bool ends = end == text.size() || !IsWordChar(text[end]);
    if (starts && ends) return true;
  }
  return false;
}

// The names a line defines at the top level (`local function NAME`, `local A, B = ...`); none
// for any other line.
std::vector<std::string_view> DefinedNames(std::string_view line) {
  constexpr std::string_view kLocal = "local ";
  constexpr std::string_view kFunction = "function ";
  std::vector<std::string_view> names;
  if (!line.starts_with(kLocal)) return names;
  line.remove_prefix(kLocal.size());
  const bool function = line.starts_with(kFunction);
  if (function) line.remove_prefix(kFunction.size());
  while (true) {
    std::size_t n = 0;
    while (n < line.size() && IsWordChar(line[n])) ++n;
    if (n == 0) break;
    names.push_back(line.substr(0, n));
    line.remove_prefix(n);
    if (function || !line.starts_with(", ")) break;
    line.remove_prefix(2);
  }
  return names;
}

struct Definition {
  std::vector<std::string_view> names;  // none: the text before the first definition
  std::string_view text;
};

std::vector<Definition> Split(std::string_view prelude) {
  std::vector<Definition> out(1);
  std::size_t start = 0;       // where the current definition's text starts
  std::size_t comments = 0;    // where the comment lines just above this line start
  bool in_comments = false;
  for (std::size_t pos = 0; pos < prelude.size();) {
    std::size_t eol = prelude.find('\n', pos);
    eol = eol == std::string_view::npos ? prelude.size() : eol + 1;
    const std::string_view line = prelude.substr(pos, eol - pos);
    if (line.starts_with("--")) {
      if (!in_comments) comments = pos;
      in_comments = true;
    } else if (auto names = DefinedNames(line); !names.empty()) {
      const std::size_t cut = in_comments ? comments : pos;
      out.back().text = prelude.substr(start, cut - start);
      out.push_back({std::move(names), {}});
      start = cut;
      in_comments = false;
    } else {
      // Top-level code other than definitions would run only with the definition before it:
      // refused, so that a prelude never loses a statement without notice.
      const bool inside = line.starts_with(' ') || line.starts_with('\t');
      const bool closes = line.starts_with("end") || line.starts_with('}') || line.starts_with(')');
      const bool blank = line.find_first_not_of(" \t\r\n") == std::string_view::npos;
      if (!inside && !closes && !blank) {
        throw std::invalid_argument("LinkPrelude: a top-level statement that defines nothing: " +
                                    std::string(line));
      }
      in_comments = false;
    }
    pos = eol;
  }
  out.back().text = prelude.substr(start);
  return out;
}

}  // namespace

std::string LinkPrelude(std::string_view prelude, std::string_view body) {
  const std::vector<Definition> parts = Split(prelude);
  std::vector<bool> kept(parts.size(), false);
  kept[0] = true;
  const auto used_in = [&](std::string_view text, const Definition& d) {
    for (std::string_view name : d.names) {
      if (UsesWord(text, name)) return true;
    }
    return false;
  };
  // Until nothing more is needed: a kept definition may use one defined before it.
  for (bool grew = true; grew;) {
    grew = false;
    for (std::size_t i = 1; i < parts.size(); ++i) {
      if (kept[i]) continue;
      bool used = used_in(body, parts[i]);
      for (std::size_t j = 0; !used && j < parts.size(); ++j) {
        used = kept[j] && j != i && used_in(parts[j].text, parts[i]);
      }
      if (used) kept[i] = grew = true;
    }
  }
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (kept[i]) out.append(parts[i].text);
  }
  out.append(body);
  return out;
}

}  // namespace ticketing::redis
