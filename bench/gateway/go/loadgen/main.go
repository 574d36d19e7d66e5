// A closed-loop HTTP load generator in the manner of `wrk -c N`: N connections, each sending its next request as soon
// as the previous answer is read, for a fixed duration. Prints one JSON line with the rate and latency percentiles.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"time"
)

type headerList []string

func (h *headerList) String() string     { return strings.Join(*h, ", ") }
func (h *headerList) Set(v string) error { *h = append(*h, v); return nil }

type result struct {
	Requests   int     `json:"requests"`
	Rps        float64 `json:"rps"`
	P50Ms      float64 `json:"p50_ms"`
	P99Ms      float64 `json:"p99_ms"`
	Unexpected int     `json:"unexpected"`
	FirstError string  `json:"first_error,omitempty"`
}

func main() {
	url := flag.String("url", "", "target URL")
	method := flag.String("method", "POST", "HTTP method")
	body := flag.String("body", `{"prompt":"hi"}`, "request body")
	connections := flag.Int("c", 16, "connections")
	duration := flag.Duration("d", 3*time.Second, "duration")
	expect := flag.Int("expect", 200, "expected status")
	var headers headerList
	flag.Var(&headers, "H", "header 'Name: value' (repeatable)")
	flag.Parse()
	if *url == "" {
		fmt.Fprintln(os.Stderr, "usage: loadgen -url URL [-c 16] [-d 3s] [-H 'Name: value']")
		os.Exit(2)
	}
	transport := &http.Transport{MaxIdleConnsPerHost: *connections, MaxConnsPerHost: *connections, DisableCompression: true}
	client := &http.Client{Transport: transport}
	deadline := time.Now().Add(*duration)
	latencies := make([][]time.Duration, *connections)
	unexpected := make([]int, *connections)
	var firstError string
	var errorOnce sync.Once
	var wg sync.WaitGroup
	started := time.Now()
	for worker := 0; worker < *connections; worker++ {
		wg.Add(1)
		go func(worker int) {
			defer wg.Done()
			for time.Now().Before(deadline) {
				request, _ := http.NewRequest(*method, *url, bytes.NewReader([]byte(*body)))
				request.Header.Set("Content-Type", "application/json")
				for _, header := range headers {
					name, value, _ := strings.Cut(header, ":")
					request.Header.Set(strings.TrimSpace(name), strings.TrimSpace(value))
				}
				sent := time.Now()
				response, err := client.Do(request)
				if err != nil {
					unexpected[worker]++
					errorOnce.Do(func() { firstError = err.Error() })
					continue
				}
				_, _ = io.Copy(io.Discard, response.Body)
				response.Body.Close()
				if response.StatusCode != *expect {
					unexpected[worker]++
					errorOnce.Do(func() { firstError = fmt.Sprintf("status %d", response.StatusCode) })
					continue
				}
				latencies[worker] = append(latencies[worker], time.Since(sent))
			}
		}(worker)
	}
	wg.Wait()
	elapsed := time.Since(started).Seconds()
	var all []time.Duration
	out := result{FirstError: firstError}
	for worker := range latencies {
		all = append(all, latencies[worker]...)
		out.Unexpected += unexpected[worker]
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	at := func(q float64) float64 {
		if len(all) == 0 {
			return 0
		}
		index := int(q * float64(len(all)))
		if index >= len(all) {
			index = len(all) - 1
		}
		return float64(all[index].Microseconds()) / 1000
	}
	out.Requests = len(all)
	out.Rps = float64(len(all)) / elapsed
	out.P50Ms = at(0.5)
	out.P99Ms = at(0.99)
	_ = json.NewEncoder(os.Stdout).Encode(out)
}
