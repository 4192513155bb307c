// Package faults holds Hookstream's end-to-end fault tests: the
// real hookstream binary, or the real in-process pipeline, under load while a
// dependency fails, each test checking the promises of the
// README's "Guarantees" afterwards.
//
//   - TestCrashRecovery: kill -9 of `serve` under load, restart on the same
//     data dir (adopting the surviving private Postgres); then serve and its
//     Postgres killed together, with the pid in postmaster.pid reused.
//   - TestPostgresOutage: Postgres stopped for 20 s under load.
//   - TestNATSOutage: `gateway --nats-url` while its NATS server is stopped.
//   - TestCRMOutage: the CRM answering 503 for 10 s (circuit breaker).
//   - TestPoisonMessage: a panicking handler and an unparseable raw event.
//   - TestRetention: INGEST max age and dedup window on the real binary.
//
// Everything listens on loopback only; every loop is bounded in count and
// time. The package has no code outside its tests: it only builds
// ./cmd/hookstream into a temporary directory and drives it. `go test -short`
// skips it.
package faults
