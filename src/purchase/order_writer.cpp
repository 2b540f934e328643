#include "purchase/order_writer.hpp"

#include "metrics/log.hpp"
#include "metrics/metrics.hpp"
#include "purchase/purchase_service.hpp"

#include <boost/asio/append.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <array>
#include <set>
#include <string_view>
#include <thread>

#include <signal.h>
#include <unistd.h>

namespace ticketing::purchase {
namespace {

// Redo the batch one order at a time (a duplicate reservation, too little stock for all, a
// buyer over the limit, a revoked lease).
struct FallBack {};
struct NoStock {};
struct LimitReached {};
struct LeaseRevoked {};

struct ProductTerms {
  bool found = false;
  std::int64_t price_cents = 0;
  std::int64_t per_user_limit = 0;
};

// Locks the product row first. Inserting an order takes a shared lock on it (foreign key) and
// the stock UPDATE then needs an exclusive one: two transactions (two server processes
// confirming the same product) holding the shared lock would deadlock. FOR UPDATE makes them
// queue instead, which also makes the per-buyer sums below exact.
ProductTerms LockProduct(db::Connection& c, std::int64_t product_id) {
  auto r = c.Execute("SELECT price_cents, per_user_limit FROM products WHERE id = ? FOR UPDATE",
                     {product_id});
  if (r.rows.empty()) return {};
  return {true, std::stoll(r.rows[0].at(0).value_or("0")),
          std::stoll(r.rows[0].at(1).value_or("0"))};
}

// "?, ?, ?" for n parameters.
std::string Placeholders(std::size_t n) {
  std::string s;
  for (std::size_t i = 0; i < n; ++i) s += i ? ", ?" : "?";
  return s;
}

// Whether any of these leases was revoked by a sweeper. A locking read: a sweeper revoking one
// of them now waits for this transaction, and this one sees a revocation committed before.
bool AnyRevoked(db::Connection& c, const std::vector<const OrderRequest*>& group) {
  std::vector<db::Param> params;
  for (const auto* r : group) params.emplace_back(r->lease_id);
  auto rows = c.Execute("SELECT lease_id FROM revoked_leases WHERE lease_id IN (" +
                            Placeholders(params.size()) + ") LOCK IN SHARE MODE",
                        params);
  return !rows.rows.empty();
}

// Whether a buyer's orders of the product (this transaction's included; refunded ones do not
// count) pass the limit. The database enforces the limit itself, so it holds even when Redis
// lost its counters.
bool OverLimit(db::Connection& c, std::int64_t product_id, std::int64_t limit,
               const std::vector<const OrderRequest*>& group) {
  std::vector<db::Param> params{product_id};
  std::set<std::string> users;
  for (const auto* r : group) users.insert(r->user);
  for (const auto& u : users) params.emplace_back(u);
  auto rows = c.Execute(
      "SELECT COALESCE(MAX(s), 0) FROM (SELECT SUM(quantity) AS s FROM orders WHERE "
      "product_id = ? AND refunded_at IS NULL AND user_id IN (" + Placeholders(users.size()) + ") GROUP BY user_id) t",
      params);
  return !rows.rows.empty() && std::stoll(rows.rows[0].at(0).value_or("0")) > limit;
}

}  // namespace

namespace {

// Group-commit figures: orders per transaction and the time their database work took (the
// batch's transaction, or its one-by-one redo, from BEGIN to COMMIT).
class ConfirmMetrics : public metrics::Collector {
 public:
  static ConfirmMetrics& Get() {
    static ConfirmMetrics* m = [] {
      static ConfirmMetrics instance;
      metrics::Registry::Get().Add(&instance);
      return &instance;
    }();
    return *m;
  }
  void Observe(std::size_t batch, double seconds) {
    batch_.Observe(static_cast<double>(batch));
    latency_.Observe(seconds);
  }
  void Render(std::string& out) const override {
    out += "# HELP ticketing_confirm_batch_size Orders written per group-commit transaction.\n"
           "# TYPE ticketing_confirm_batch_size histogram\n";
    batch_.Render(out, "ticketing_confirm_batch_size", "");
    out += "# HELP ticketing_confirm_db_seconds Database time of one group-commit batch.\n"
           "# TYPE ticketing_confirm_db_seconds histogram\n";
    latency_.Render(out, "ticketing_confirm_db_seconds", "");
  }

 private:
  static constexpr std::array<double, 9> kBatch = {1, 2, 4, 8, 16, 32, 64, 128, 256};
  metrics::Histogram batch_{kBatch};
  metrics::Histogram latency_;
};

}  // namespace

OrderWriter::OrderWriter(db::Pool& pool, std::size_t max_batch, std::string fault)
    : pool_(pool), max_batch_(std::max<std::size_t>(1, max_batch)), fault_(std::move(fault)) {
  ConfirmMetrics::Get();  // exported from the start, before the first confirm
}

OrderWriter::~OrderWriter() {
  // A worker posts its waiters' completions before it looks at the queue again, so a waiter
  // can resume (and its owner destroy this writer) while the worker is still inside.
  std::unique_lock lock(mu_);
  idle_.wait(lock, [this] { return draining_ == 0; });
}

net::awaitable<OrderResult> OrderWriter::Write(OrderRequest request) {
  // A plain function returning the operation: no coroutine frame copies the request.
  return net::async_initiate<decltype(net::use_awaitable), void(std::exception_ptr, OrderResult)>(
      [this](auto handler, OrderRequest r) {
        // Tracked: the waiter's io_context must not run out of work while it waits.
        net::any_io_executor ex = net::prefer(net::get_associated_executor(handler),
                                              net::execution::outstanding_work.tracked);
        Enqueue(Pending{std::move(r), Handler(std::move(handler)), std::move(ex)});
      },
      net::use_awaitable, std::move(request));
}

void OrderWriter::Enqueue(Pending pending) {
  const auto product_id = pending.request.product_id;
  bool start = false;
  {
    std::lock_guard lock(mu_);
    auto& q = queues_[product_id];
    q.waiting.push_back(std::move(pending));
    start = !q.writing;
    q.writing = true;
    if (start) ++draining_;
  }
  if (start) StartDrain(product_id);
}

void OrderWriter::StartDrain(std::int64_t product_id) {
  if (pool_.Submit([this, product_id](db::Connection* c, std::exception_ptr err) {
        Drain(c, std::move(err), product_id);
      })) {
    return;
  }
  // The pool's queue is full (or it is stopping): nothing of this product's queue was written,
  // so its waiters fail (503, the hold goes back to held) rather than wait for a job that will
  // never come.
  std::deque<Pending> failed;
  {
    std::lock_guard lock(mu_);
    auto it = queues_.find(product_id);
    failed = std::move(it->second.waiting);
    queues_.erase(it);
    if (--draining_ == 0) idle_.notify_all();  // under mu_: see ~OrderWriter
  }
  for (auto& p : failed) {
    net::post(p.executor,
              net::append(std::move(p.handler),
                          std::make_exception_ptr(db::Unavailable("database pool queue full")),
                          OrderResult{}));
  }
}

void OrderWriter::Drain(db::Connection* c, std::exception_ptr connect_error,
                        std::int64_t product_id) {
  for (;;) {
    std::vector<Pending> batch;
    {
      std::lock_guard lock(mu_);
      auto it = queues_.find(product_id);
      auto& waiting = it->second.waiting;
      if (waiting.empty()) {
        queues_.erase(it);
        if (--draining_ == 0) idle_.notify_all();  // under mu_: see ~OrderWriter
        return;
      }
      if (c && c->Broken()) break;
      const std::size_t n = std::min(max_batch_, waiting.size());
      batch.reserve(n);
      for (std::size_t i = 0; i < n; ++i) {
        batch.push_back(std::move(waiting.front()));
        waiting.pop_front();
      }
    }
    std::vector<Outcome> outcomes;
    if (c) {
      outcomes = WriteBatch(*c, batch);
    } else {
      outcomes.assign(batch.size(), Outcome{connect_error, {}});
    }
    // Each waiter resumes on its own executor, never on this worker.
    for (std::size_t i = 0; i < batch.size(); ++i) {
      net::post(batch[i].executor,
                net::append(std::move(batch[i].handler), std::move(outcomes[i].error),
                            std::move(outcomes[i].result)));
    }
  }
  // This worker's connection broke: a fresh job (with a fresh connection) takes over the rest.
  // Started outside mu_, and the pool never runs it on this thread.
  StartDrain(product_id);
}

std::vector<OrderWriter::Outcome> OrderWriter::WriteBatch(db::Connection& c,
                                                          const std::vector<Pending>& batch) {
  std::vector<Outcome> out(batch.size());
  std::vector<const OrderRequest*> group;
  std::vector<std::size_t> index;
  const auto now = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (batch[i].request.deadline <= now) {
      out[i] = Outcome{std::make_exception_ptr(db::Unavailable(
                           "the database did not get to this confirm before its deadline")),
                       {}};
    } else {
      group.push_back(&batch[i].request);
      index.push_back(i);
    }
  }
  if (group.empty()) return out;
  const auto started = std::chrono::steady_clock::now();
  auto written = WriteGroup(c, group);
  ConfirmMetrics::Get().Observe(
      group.size(), std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  for (std::size_t k = 0; k < group.size(); ++k) out[index[k]] = std::move(written[k]);
  return out;
}

std::vector<OrderWriter::Outcome> OrderWriter::WriteGroup(
    db::Connection& c, const std::vector<const OrderRequest*>& group) {
  if (group.size() == 1) return {WriteOne(c, *group[0])};
  const std::int64_t product_id = group[0]->product_id;
  std::int64_t units = 0;
  for (const auto* p : group) units += p->quantity;

  auto one_by_one = [&] {
    std::vector<Outcome> each(group.size());
    for (std::size_t i = 0; i < group.size(); ++i) each[i] = WriteOne(c, *group[i]);
    return each;
  };
  bool commit_sent = false;
  std::vector<Outcome> out(group.size());
  try {
    db::Transaction(c, [&] {
      StallIfAsked();
      const ProductTerms terms = LockProduct(c, product_id);
      if (!terms.found) throw FallBack{};
      std::string sql =
          "INSERT INTO orders (reservation_id, product_id, user_id, quantity, unit_price_cents, "
          "total_price_cents) VALUES ";
      std::vector<db::Param> params;
      params.reserve(group.size() * 6);
      for (std::size_t i = 0; i < group.size(); ++i) {
        const auto& r = *group[i];
        sql += i ? ", (?, ?, ?, ?, ?, ?)" : "(?, ?, ?, ?, ?, ?)";
        params.insert(params.end(), {r.reservation_id, product_id, r.user,
                                     std::int64_t{r.quantity}, terms.price_cents,
                                     terms.price_cents * r.quantity});
      }
      c.Execute(sql, params);
      auto upd = c.Execute("UPDATE products SET stock = stock - ? WHERE id = ? AND stock >= ?",
                           {units, product_id, units});
      if (upd.affected_rows == 0) throw FallBack{};
      if (AnyRevoked(c, group)) throw FallBack{};
      if (OverLimit(c, product_id, terms.per_user_limit, group)) throw FallBack{};
      CrashIf("crash_before_commit");
      commit_sent = true;
    });
    transactions_.fetch_add(1);
    orders_.fetch_add(group.size());
    CrashIf("crash_after_commit");
  } catch (const FallBack&) {
    return one_by_one();
  } catch (const db::QueryError& e) {
    if (e.code != db::kErrDuplicateKey) {
      out.assign(group.size(), Outcome{std::current_exception(), {}});
      return out;
    }
    return one_by_one();
  } catch (const db::Unavailable& e) {
    auto err = commit_sent ? std::make_exception_ptr(CommitUnknown(e.what()))
                           : std::current_exception();
    out.assign(group.size(), Outcome{err, {}});
    return out;
  } catch (...) {
    out.assign(group.size(), Outcome{std::current_exception(), {}});
    return out;
  }

  // Committed. The order ids: one read (auto-increment values of one multi-row insert need
  // not be consecutive under innodb_autoinc_lock_mode=2, MySQL 8's default).
  try {
    std::vector<db::Param> params;
    for (const auto* r : group) params.emplace_back(r->reservation_id);
    auto rows = c.Execute(
        "SELECT id, reservation_id, product_id, quantity, total_price_cents FROM orders "
        "WHERE reservation_id IN (" + Placeholders(params.size()) + ")",
        params);
    std::map<std::string, Order> by_rid;
    for (const auto& row : rows.rows) {
      Order o = OrderFromRow(row);
      by_rid.emplace(o.reservation_id, o);
    }
    for (std::size_t i = 0; i < group.size(); ++i) {
      auto it = by_rid.find(group[i]->reservation_id);
      if (it == by_rid.end()) {
        out[i] = Outcome{std::make_exception_ptr(std::runtime_error("committed order not found")), {}};
      } else {
        out[i] = Outcome{nullptr, OrderResult{OrderResult::kCommitted, it->second}};
      }
    }
  } catch (const std::exception& e) {
    // Committed for sure, ids unknown: the sweeper settles these holds from the database.
    out.assign(group.size(),
               Outcome{std::make_exception_ptr(CommitUnknown(
                           std::string("order committed, id not read back: ") + e.what())),
                       {}});
  }
  return out;
}

OrderWriter::Outcome OrderWriter::WriteOne(db::Connection& c, const OrderRequest& r) {
  bool commit_sent = false;
  try {
    auto result = db::Transaction(c, [&]() -> OrderResult {
      StallIfAsked();
      const ProductTerms terms = LockProduct(c, r.product_id);
      if (!terms.found) throw NoStock{};
      const std::int64_t total = terms.price_cents * r.quantity;
      auto ins = c.Execute(
          "INSERT INTO orders (reservation_id, product_id, user_id, quantity, unit_price_cents, "
          "total_price_cents) VALUES (?, ?, ?, ?, ?, ?)",
          {r.reservation_id, r.product_id, r.user, std::int64_t{r.quantity}, terms.price_cents,
           total});
      if (AnyRevoked(c, {&r})) throw LeaseRevoked{};
      auto upd = c.Execute("UPDATE products SET stock = stock - ? WHERE id = ? AND stock >= ?",
                           {std::int64_t{r.quantity}, r.product_id, std::int64_t{r.quantity}});
      if (upd.affected_rows == 0) throw NoStock{};
      if (OverLimit(c, r.product_id, terms.per_user_limit, {&r})) throw LimitReached{};
      CrashIf("crash_before_commit");
      commit_sent = true;
      return OrderResult{OrderResult::kCommitted,
                         Order{static_cast<std::int64_t>(ins.insert_id), r.reservation_id,
                               r.product_id, r.quantity, total}};
    });
    transactions_.fetch_add(1);
    orders_.fetch_add(1);
    CrashIf("crash_after_commit");
    return Outcome{nullptr, result};
  } catch (const NoStock&) {
    return Outcome{nullptr, OrderResult{OrderResult::kNoStock, {}}};
  } catch (const LimitReached&) {
    return Outcome{nullptr, OrderResult{OrderResult::kLimitReached, {}}};
  } catch (const LeaseRevoked&) {
    return Outcome{nullptr, OrderResult{OrderResult::kLeaseRevoked, {}}};
  } catch (const db::QueryError& e) {
    if (e.code == db::kErrDuplicateKey) {
      try {
        if (auto existing = SelectOrder(c, r.reservation_id)) {
          return Outcome{nullptr, OrderResult{OrderResult::kDuplicate, *existing}};
        }
      } catch (...) {
        return Outcome{std::current_exception(), {}};
      }
    }
    return Outcome{std::current_exception(), {}};
  } catch (const db::Unavailable& e) {
    return Outcome{commit_sent ? std::make_exception_ptr(CommitUnknown(e.what()))
                               : std::current_exception(),
                   {}};
  } catch (...) {
    return Outcome{std::current_exception(), {}};
  }
}

void OrderWriter::StallIfAsked() const {
  constexpr std::string_view kStall = "stall_before_insert:";
  if (!fault_.starts_with(kStall)) return;
  std::this_thread::sleep_for(std::chrono::milliseconds(std::stoll(fault_.substr(kStall.size()))));
}

void OrderWriter::CrashIf(const char* point) const {
  if (fault_ != point) return;
  log::Error("fault_injection", {{"crash", point}});
  spdlog::default_logger_raw()->flush();
  kill(getpid(), SIGKILL);
  _exit(137);
}

}  // namespace ticketing::purchase
