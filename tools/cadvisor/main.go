// cadvisor-mlops: cAdvisor's container manager with only its raw cgroup handler (no docker,
// containerd, CRI-O or systemd factories: none is imported), exporting its Prometheus collector on
// one address. The live tests run it on 127.0.0.1 and place each platform process in a cgroup
// named `<stack name>-<component>`, as docker names the dev stack's containers, so the rendered
// `cadvisor` job reads the same series it reads from the cAdvisor container in the dev stack.
//
// The cAdvisor command's own package is not served by the Go module proxy; this main uses the
// library packages of the root module at the pinned image's tag.
package main

import (
	"flag"
	"log"
	"net/http"
	"strings"
	"time"

	"github.com/google/cadvisor/cache/memory"
	"github.com/google/cadvisor/container"
	v2 "github.com/google/cadvisor/info/v2"
	"github.com/google/cadvisor/manager"
	"github.com/google/cadvisor/metrics"
	"github.com/google/cadvisor/utils/sysfs"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/utils/clock"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "address to serve /metrics on")
	housekeeping := flag.Duration("housekeeping", time.Second, "how often each cgroup is read")
	prefixes := flag.String("cgroup-prefixes", "/",
		"comma-separated cgroup path prefixes to track (besides the root)")
	flag.Parse()

	// What the platform's queries read: CPU (usage, CFS throttling) and memory (working set,
	// limit). Disk, network, process and perf figures need more of the host than a cgroup.
	included := container.MetricSet{
		container.CpuUsageMetrics:    struct{}{},
		container.MemoryUsageMetrics: struct{}{},
	}
	interval, dynamic := *housekeeping, false
	m, err := manager.New(
		memory.New(2*time.Minute, nil),
		sysfs.NewRealSysFs(),
		manager.HousekeepingConfig{Interval: &interval, AllowDynamic: &dynamic},
		included,
		http.DefaultClient,
		strings.Split(*prefixes, ","),
		nil, // no environment variables exported as labels
		"",  // no perf events
		0,   // no resctrl
	)
	if err != nil {
		log.Fatalf("cadvisor manager: %v", err)
	}
	if err := m.Start(); err != nil {
		log.Fatalf("cadvisor manager start: %v", err)
	}
	registry := prometheus.NewRegistry()
	registry.MustRegister(metrics.NewPrometheusCollector(m, metrics.DefaultContainerLabels, included,
		clock.RealClock{}, v2.RequestOptions{IdType: v2.TypeName, Count: 1, Recursive: true}))
	http.Handle("/metrics", promhttp.HandlerFor(registry, promhttp.HandlerOpts{}))
	http.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	log.Printf("serving /metrics on %s", *listen)
	log.Fatal(http.ListenAndServe(*listen, nil))
}
