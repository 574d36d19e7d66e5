export const USAGE = `l402: curl-like HTTP client that pays L402 (and LSAT) and HTTP Payment (lightning charge and session)
challenges over Lightning

usage:
  l402 get <url> [-H 'K: V']... [options]
  l402 post <url> [-d <body> | -d @<file> | -d @-] [-H 'K: V']... [options]
  l402 quote <url> [-X <method>] [-d <body>] [-H 'K: V']...
                                          the gateway's price for this request, before paying (JSON on
                                          stdout); exit 3 when the cap or a budget would refuse it
  l402 mcp [--max-cost <sats>] [--confirm-above <sats>]
                                          Model Context Protocol server on stdio (tools: fetch, quote,
                                          balance, receipts, budget, close)
  l402 tokens list                        cached tokens and Payment sessions as JSON (no preimages)
  l402 tokens rm <origin|payment-hash>    forget tokens; 'l402 tokens rm --all' forgets every one
  l402 close <origin> | --all             close Payment sessions and L402 prepaid tokens, collecting the
                                          unspent balances as refunds (printed as JSON)
  l402 receipts [--origin <origin>] [--status pending|succeeded|failed] [--limit <n>]
  l402 budget                             saved limits and what was spent, as JSON
  l402 budget set [--hourly <sats>] [--daily <sats>] [--total <sats>] [--per-origin <sats>]
  l402 budget clear                       remove every saved limit (the default budget applies again)
  l402 refusals                           origins that took a payment and did not serve it, and until when
                                          they get no new payment (JSON)
  l402 refusals clear <origin> | --all    the owner's word: pay them again before their cool-off ends

get/post options:
  -H, --header 'K: V'     add a request header (repeatable)
  -d, --data <body>       request body (post); @file reads a file, @- reads stdin
  --max-cost <sats>       cap per payment on amount plus --max-fee (default 1000)
  --max-fee <sats>        routing fee limit per payment (default 10)
  --timeout <seconds>     how long a payment may take before it is reported pending (default 60)
  --dry-run               pay nothing: print the price as JSON on stdout instead
  --deposit-calls <n>     a metered service's credential (L402 prepaid token, Payment session) is bought or
                          topped up with enough for n calls at the price its 402 quotes (default 5), within
                          --max-cost and the budgets; the next calls use the balance, 'l402 close' refunds the rest
  --deposit <sats>        fund it with this many sats instead; 0: only what the gateway asks (one call)
  --scheme <list>         offers to pay, best first, of l402, charge, session (default: the smallest outlay
                          that covers the call; progress on stderr says which scheme paid)
  --allow-refused         pay this URL's origin even though it took a payment and did not serve it (it
                          answered 402 to the paid credential, or never answered the paid request)
  --cool-off <seconds>    how long such an origin gets no new payment (default 86400, a day)
  --headers-timeout <s>   give up when the server sends no response headers within this (default 60); after
                          a payment the request is sent again with the paid credential, twice at most
  --idle-timeout <s>      give up when the response body pauses longer than this (default 60)
  -i, --include           print the response status line and headers to stderr
  --cacert <file>         trust this PEM CA certificate too (a gateway with a private CA)
  --insecure              allow a plain-http:// origin that is not loopback: the credential and payment then
                          cross the network in clear text (refused otherwise, exit 2)

mcp options (the model can lower the cap per call with max_cost, never raise it; budgets are those saved
with 'l402 budget set'):
  --max-cost <sats>       cap per payment on amount plus --max-fee (default 1000)
  --max-fee <sats>        routing fee limit per payment (default 10)
  --deposit-calls <n>, --deposit <sats>   as for get/post (the fetch tool's deposit_calls overrides per call)
  --confirm-above <sats>  a payment above this (amount plus fee) is made only after the user confirms it
                          through the host (MCP elicitation); refused where the host cannot ask
  --headers-timeout <s>, --idle-timeout <s>, --cool-off <seconds>   as for get/post

common options:
  --store <path>          token, receipt and budget file (env L402_STORE; default ~/.l402/store.json)
  --lnd-socket <host:port>  env L402_LND_SOCKET
  --lnd-cert <path|base64|hex>      env L402_LND_CERT (omit for a CA-signed certificate)
  --lnd-macaroon <path|base64|hex>  env L402_LND_MACAROON (needs offchain:read and offchain:write)
  --wallet lnd|nwc        env L402_WALLET; nwc pays through a Nostr Wallet Connect (NIP-47) wallet service
  --nwc-uri-file <path>   file holding the nostr+walletconnect:// URI (env L402_NWC_URI_FILE, or the URI itself
                          in L402_NWC_URI; never on the command line, never printed)
  -q, --quiet             no progress on stderr
  -h, --help, --version

The response body goes to stdout; progress and payment information go to stderr. A server's echo of the
credential it was sent (Authorization, macaroon, preimage) is printed as [redacted]. Budgets saved with
'l402 budget set' apply to every get/post using the same store; with none saved, the default budget applies
(2000 sats per hour, 10000 sats per day).

exit codes:
  0  ok (also a --dry-run that met a price)
  1  unexpected error (server unreachable or silent past a timeout, unreadable store, a paid request redirected
     to another origin, ...)
  2  bad usage, or a plain-http:// origin on the network without --insecure (nothing sent)
  3  over --max-cost or over a budget: nothing paid
  4  payment failed, timed out (kept pending), or an earlier payment to the origin (or too many) still in flight
  5  HTTP error: the final response is >= 400, or the server took a payment and did not serve it (answered
     402 to the paid credential, or never answered the paid request: paid_not_served says what was paid and
     how to resume), now or before: then it gets no new payment during the cool-off without --allow-refused
  6  unusable challenge: malformed, bad, zero-amount or expired invoice, timelock too long, hash not bound to
     the macaroon, or a 402 from another origin after a redirect
`;
