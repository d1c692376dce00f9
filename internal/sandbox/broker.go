package sandbox

import (
	"fmt"
	"net"
	"strconv"

	"github.com/twmb/franz-go/pkg/kfake"
)

// startBroker starts a single-broker kfake cluster listening on addr, with
// topics seeded and auto-creation on. Its data lives in memory only: a
// restart starts with empty topics and no committed offsets, which is what a
// sandbox wants (the Firehose side keeps its files).
func startBroker(addr string, partitions int32, topics []string) (*kfake.Cluster, error) {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("sandbox: Kafka address %q: want host:port", addr)
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 0 || port > 65535 {
		return nil, fmt.Errorf("sandbox: Kafka address %q: bad port", addr)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	c, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.Ports(port),
		// kfake listens on 127.0.0.1; this puts the broker on the host
		// asked for. Clients are told the listener's address, so a
		// wildcard host would be advertised as is: give a dialable one.
		kfake.ListenFn(func(network, address string) (net.Listener, error) {
			_, p, err := net.SplitHostPort(address)
			if err != nil {
				return nil, err
			}
			return net.Listen(network, net.JoinHostPort(host, p))
		}),
		kfake.SeedTopics(partitions, topics...),
		kfake.AllowAutoTopicCreation(),
		kfake.DefaultNumPartitions(int(partitions)),
	)
	if err != nil {
		return nil, fmt.Errorf("sandbox: starting the Kafka broker on %s: %w", addr, err)
	}
	return c, nil
}
