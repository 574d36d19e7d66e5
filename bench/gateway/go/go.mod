module l402-gateway/bench

go 1.22
