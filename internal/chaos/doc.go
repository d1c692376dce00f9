// Package chaos holds the chaos run of firehose-worker (TestChaos, build tag
// chaos): real Apache Kafka, several worker processes, and a fault-injecting
// Firehose endpoint in front of the moto AWS emulator, while workers are
// SIGKILLed and restarted, the broker is restarted and Firehose throttles in
// storms. At the end what reached S3 is compared with what was produced, and
// a report is written. The run fails if any message is missing.
//
//	scripts/chaos.sh     # starts Kafka and moto on their own ports, runs, stops them
//	CHAOS_EVENTS=1000000 CHAOS_KILLS=20 scripts/chaos.sh     # the full run (make chaos)
//
// # What runs
//
//   - Kafka: the broker of scripts/kafka.sh (KAFKA_PORT, default 19292 for
//     this run). The test creates a topic of CHAOS_PARTITIONS partitions, a
//     dead-letter topic and a consumer group, all named with a per-run id.
//   - The producer: franz-go (idempotent, acks=all), never the worker's
//     kafka-go client, so the worker is not used to check itself. It sends
//     CHAOS_EVENTS messages at an even rate over CHAOS_DURATION, realistic
//     Segment events from eventgen (unique messageIds, about 1% with the
//     destination turned off in "integrations") and, every
//     CHAOS_INVALID_EVERY-th message, an invalid one of nine kinds (not JSON,
//     not an object, no type, ...). Every acknowledged message is entered in
//     a ledger with its partition, offset, and what must happen to it: the
//     streams it must reach, "skipped by integrations", or the dead-letter
//     reason it must carry.
//   - The workers: CHAOS_WORKERS processes of the worker binary built from
//     ./worker, each with client_id chaos-wN so the group description says
//     which process owns which partition. Each incarnation logs to its own
//     file in the report directory.
//   - Firehose: a firehosesim.Server the workers talk to
//     (AWS_ENDPOINT_URL_FIREHOSE). It throttles whole calls, fails a share of
//     records, adds latency and drops connections after the records landed,
//     so the worker cannot know whether a call succeeded. Its Sink forwards
//     the accepted records to moto's Firehose with the AWS SDK, retrying
//     until moto takes them, before the worker gets its answer; moto writes
//     them to S3. S3 is the ground truth of what was delivered.
//
// # Worker settings
//
// commit_interval 200ms, heartbeat_interval 500ms, session_timeout 6s (a
// SIGKILLed worker's partitions move after it), rebalance_timeout 15s,
// batch.linger 50ms, delivery backoff 50ms-2s, and drain_timeout 4s
// (CHAOS_WORKER_DRAIN). The drain must stay below the session timeout: when
// a rebalance starts, kafka-go ends the generation's heartbeat loop before
// the worker drains its partitions, so a member that drains longer than
// session_timeout is evicted, its final commit fails with Unknown Member ID,
// and its partitions are read again. With drain_timeout 10s and a throttle
// storm, the evicted members' rejoining evicts the others in turn, and the
// group can go round in rebalances for minutes
// (CHAOS_WORKER_DRAIN=10s reproduces it).
//
// # What happens during the run
//
// One goroutine spreads CHAOS_KILLS SIGKILLs of a random worker and
// CHAOS_BROKER_RESTARTS broker restarts (scripts/kafka.sh restart) over
// CHAOS_DURATION at random intervals. A killed worker is started again after
// a random 0.2-8 s. Each disruption waits until the group has recovered from
// the previous one. Another goroutine runs CHAOS_STORMS throttle storms of
// CHAOS_STORM_DURATION each (90% of calls throttled, half of the rest's
// records failed). A monitor samples the group every 500 ms through kadm:
// state, members, assignments, committed and end offsets, so lag and
// recovery are measured from outside the worker.
//
// # Recovery after a kill
//
// recovered: the time from SIGKILL until the first sample in which the group
// is Stable, every partition is assigned, the killed member has left, and
// every partition the killed worker owned has a committed offset beyond the
// one it had in the first sample after the kill (or has nothing left to
// read). back to full strength: until the group is also Stable again with
// all CHAOS_WORKERS members after the restart. Both are measured to the
// monitor's 500 ms resolution.
//
// # The verdict
//
// When production and the disruptions are over, the test waits (up to
// CHAOS_DRAIN_TIMEOUT) until the group has committed every offset, stops the
// workers with SIGTERM, reads every S3 object of the run's streams and the
// whole dead-letter topic, and compares them with the ledger. Records are
// matched by content (a hash of the compacted message), and unmatched lines
// are classified by messageId. The run fails when a message that had to be
// delivered is missing, an invalid message is not in the dead-letter topic,
// or a line in S3 is not one the ledger expects (corrupted, or a message that
// had to be skipped). Duplicates are counted and reported, never failed.
//
// # Where each duplicate comes from
//
// Every extra copy of a record is attributed, from outside, to the first
// cause that explains it: a cut answer (the simulated Firehose's Observer
// saw the record land in a call whose answer it then cut), a SIGKILL (the
// message lies in a partition the killed worker owned, between the offset
// committed in the sample before the kill and the partition's end in the
// sample after it), a broker restart (any partition, from the committed
// offset before the restart to the end once commits moved again), or a
// forced rebalance (a worker logged a drain that timed out or a commit that
// failed; the window is the samples around that line). A copy that none of
// them explains is reported as unattributed, with examples, and warned about
// as a finding: a duplicate nobody can explain is a bug to find.
//
// The report (report.json, report.md, lag.csv, the workers' logs; the script
// adds test.log and the broker's log) goes to
// CHAOS_REPORT_DIR/<run id>/ (CHAOS_REPORT_DIR defaults to .cache/chaos; the
// link "latest" there points at the newest run).
package chaos
