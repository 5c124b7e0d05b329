module wrenn/bench-sdk-overhead

go 1.19

require github.com/wrenn/wrenn/sdks/go v0.0.0

replace github.com/wrenn/wrenn/sdks/go => ../../../sdks/go
