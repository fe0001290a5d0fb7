// Wrapper module for building promtool: it repeats the non-local replace of
// Prometheus' own go.mod, which `go install pkg@version` would refuse.
module mlops.local/tools/promtool

go 1.23.0

replace github.com/fsnotify/fsnotify v1.8.0 => github.com/fsnotify/fsnotify v1.7.0
