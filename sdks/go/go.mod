module wrenn/sdk

go 1.19
