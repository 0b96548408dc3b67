module github.com/vigil-detect/vigil/bench

go 1.26.8

replace github.com/vigil-detect/vigil => ../

require (
	github.com/0xrawsec/golang-evtx v1.2.9
	github.com/elastic/go-lumber v0.1.0
	github.com/markuskont/go-sigma-rule-engine v0.3.0
	github.com/nats-io/nats.go v1.56.0
	github.com/vigil-detect/vigil v0.0.0-00010101000000-000000000000
)

require (
	github.com/0xrawsec/golang-utils v1.3.0 // indirect
	github.com/gobwas/glob v0.2.3 // indirect
	github.com/klauspost/compress v1.20.4 // indirect
	github.com/nats-io/nkeys v0.4.17 // indirect
	github.com/nats-io/nuid v1.0.1 // indirect
	go.yaml.in/yaml/v3 v3.0.6 // indirect
	golang.org/x/crypto v0.58.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
	gopkg.in/yaml.v2 v2.4.0 // indirect
)
