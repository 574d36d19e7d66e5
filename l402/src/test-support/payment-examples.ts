/** The worked example of payment-scheme.md §2: its request object (keys out of order) and the exact `request` string. */
export const WORKED_REQUEST = {
  methodDetails: { paymentHash: "a".repeat(64), network: "regtest", invoice: "lnbcrt210n1pexample" },
  currency: "sat",
  amount: "21",
};
export const WORKED_REQUEST_TEXT =
  "eyJhbW91bnQiOiIyMSIsImN1cnJlbmN5Ijoic2F0IiwibWV0aG9kRGV0YWlscyI6eyJpbnZvaWNlIjoibG5iY3J0MjEwbjFwZXhhbXBsZSIsIm5ldHdvcmsiOiJyZWd0ZXN0IiwicGF5bWVudEhhc2giOiJhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhIn19";
