module storage.bench/gocacheprog-minimal

go 1.24
