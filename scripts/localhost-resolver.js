// Preloaded into Node (NODE_OPTIONS=--require …) by scripts/xapi-conformance.sh: names under
// `.localhost` resolve to loopback (RFC 6761 §6.3), as curl and browsers do and this machine's
// libc does not, so a tool we did not write can reach a tenant at `acme.localhost:PORT`.
const dns = require("dns");
const lookup = dns.lookup;
dns.lookup = function (hostname, options, callback) {
    if (typeof options === "function") {
        callback = options;
        options = {};
    }
    const name = String(hostname).toLowerCase().replace(/\.$/, "");
    if (name === "localhost" || name.endsWith(".localhost")) {
        const all = typeof options === "object" && options !== null && options.all;
        return process.nextTick(() =>
            all ? callback(null, [{ address: "127.0.0.1", family: 4 }]) : callback(null, "127.0.0.1", 4),
        );
    }
    return lookup.call(this, hostname, options, callback);
};
