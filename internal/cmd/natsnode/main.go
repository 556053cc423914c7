// Command natsnode runs one NATS server from a configuration file, as nats-server -c does: the
// cluster tests start three of them from deploy/nats and kill them, which an embedded server
// cannot be. It is built from the nats-server module the gateway embeds, so it is the same
// server; in a deployment, run the official nats-server with the same files.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/nats-io/nats-server/v2/server"
)

func main() {
	config := flag.String("c", "", "configuration file")
	flag.Parse()
	if *config == "" {
		fmt.Fprintln(os.Stderr, "usage: natsnode -c FILE")
		os.Exit(2)
	}
	opts, err := server.ProcessConfigFile(*config)
	if err != nil {
		fmt.Fprintf(os.Stderr, "natsnode: %v\n", err)
		os.Exit(1)
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		fmt.Fprintf(os.Stderr, "natsnode: %v\n", err)
		os.Exit(1)
	}
	ns.ConfigureLogger()
	if err := server.Run(ns); err != nil {
		fmt.Fprintf(os.Stderr, "natsnode: %v\n", err)
		os.Exit(1)
	}
	ns.WaitForShutdown()
}
