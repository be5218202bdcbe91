module github.com/parley-im/parley

go 1.26.0

require (
	github.com/cloudflare/circl v1.6.5
	golang.org/x/crypto v0.58.0
)

require (
	github.com/danieljoos/wincred v1.2.3 // indirect
	github.com/flynn/noise v1.1.0 // indirect
	github.com/godbus/dbus/v5 v5.2.2 // indirect
	github.com/hack-pad/safejs v0.1.0
	github.com/mutecomm/go-sqlcipher/v4 v4.4.2 // indirect
	github.com/zalando/go-keyring v0.2.8 // indirect
	go.etcd.io/bbolt v1.4.3 // indirect
	golang.org/x/sys v0.49.0 // indirect
	rsc.io/qr v0.2.0
)
