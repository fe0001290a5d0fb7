// Command etcd is the etcd server (go.etcd.io/etcd/server/v3) the engine tier's API server
// stores its objects in. etcd's own main module is not served at this version; its server
// module is, and etcdmain is that binary's entry point.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
