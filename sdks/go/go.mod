module github.com/wrenn/wrenn/sdks/go

go 1.19
