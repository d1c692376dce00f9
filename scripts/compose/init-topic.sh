#!/bin/bash
# Creates the topic the workers consume and the generator produces to. Runs
# in the apache/kafka image against the compose broker. Safe to run again.
set -euo pipefail
: "${BOOTSTRAP:?set BOOTSTRAP}" "${TOPIC:?set TOPIC}" "${PARTITIONS:?set PARTITIONS}"
/opt/kafka/bin/kafka-topics.sh --bootstrap-server "$BOOTSTRAP" --create --if-not-exists \
  --topic "$TOPIC" --partitions "$PARTITIONS" --replication-factor 1
/opt/kafka/bin/kafka-topics.sh --bootstrap-server "$BOOTSTRAP" --describe --topic "$TOPIC"
