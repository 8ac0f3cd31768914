module weft.dev/runner

go 1.21
