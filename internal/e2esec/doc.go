// Package e2esec is the end-to-end proof of the Kafka connection security:
// the built firehose-worker binary consumes from a real Apache Kafka broker
// through a SASL_SSL listener with SCRAM-SHA-512, and fails fast, with an
// error naming the problem, on a wrong password or an untrusted certificate.
//
// The test starts its own broker with scripts/kafka.sh (PLAINTEXT on
// FHW_E2ESEC_KAFKA_PORT, default 19192, for setup and readiness; the KRaft
// controller on the next port; SASL_SSL on the one after), so it never
// disturbs the broker other tests share, and stops it at the end. A test-only
// CA and broker certificate are made with openssl in a temporary directory,
// and the SCRAM user with Kafka's own kafka-configs tool. Events are produced
// and checked with franz-go over the PLAINTEXT listener, and delivered to an
// in-process Firehose (internal/itest), so the worker never judges itself.
//
// The tests carry the build tag e2e and need java (17+) and openssl:
//
//	scripts/e2e-sec.sh
//	go test -tags e2e -count=1 -v ./internal/e2esec/
package e2esec
