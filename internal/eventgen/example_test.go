package eventgen_test

import (
	"fmt"

	"github.com/firehose-worker/firehose-worker/internal/eventgen"
)

func ExampleGenerator_Next() {
	g := eventgen.New(eventgen.Options{Seed: 42})
	var buf []byte
	for range 4 {
		var key []byte
		var info eventgen.Info
		buf, key, info = g.Next(buf[:0])
		fmt.Printf("%-8s %-22q key=%s\n", info.Type, info.Event, key)
	}
	// Output:
	// track    "Cart Viewed"          key=689e8a39-c486-49b6-a49b-589c12a8a73d
	// group    ""                     key=usr_BafqSx6Eo9S
	// track    "Promotion Viewed"     key=607199ca-9cf7-4617-87e5-d440fb9e232e
	// screen   ""                     key=64accdbe-9dae-4635-80aa-a66eb689b725
}
