// Package e2e holds the end-to-end tests of firehose-worker: the built binary,
// run as separate processes, against a real Apache Kafka broker and the moto
// AWS emulator (Firehose writing to S3, and STS). Every figure is checked from
// the outside: events are produced with franz-go, and what the worker
// delivered is read back from the S3 objects moto writes for each
// PutRecordBatch call, so the worker's own code is never used to judge itself.
//
// The tests carry the build tag e2e and need both services:
//
//	scripts/e2e.sh                      # starts both, runs the tests, stops both
//	go test -tags e2e -count=1 -v ./internal/e2e/   # services already running
//
// FHW_E2E_KAFKA (default 127.0.0.1:19092) and FHW_E2E_AWS (default
// http://127.0.0.1:14566) say where the services are; FHW_E2E_BUCKET
// (default firehose-worker-e2e) is the bucket the test streams write to.
// E2E_REPORT_DIR, when set, receives one JSON report per test with its
// figures (events, records, duplicates, duration) and the workers' logs.
// FHW_E2E_RACE=1 builds the worker with the race detector.
//
// Topic, group, stream and role names carry a per-run id, so two runs against
// the same services do not see each other's data. TestBrokerRestart restarts
// the broker with scripts/kafka.sh and so disturbs anything else using it.
package e2e
