module wrenn/sdk-scenario

go 1.19

require wrenn/sdk v0.0.0

replace wrenn/sdk => ../../../sdks/go
