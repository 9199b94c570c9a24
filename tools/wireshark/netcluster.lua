-- netcluster.lua: a Wireshark / tshark dissector for the netcluster wire
-- protocol, version 1 of all four sub-protocols (docs/PROTOCOL.md):
-- discovery, link, admin and tracker; the frame header, extension TLVs,
-- source routes, ACK ranges and the discovery security fields (replay
-- counter, key id, authentication tag; PROTOCOL section 12).
--
--   tshark -X lua_script:tools/wireshark/netcluster.lua -r capture.pcap
--
-- or copy the file into Wireshark's personal Lua plugins folder. See
-- tools/wireshark/README.md.
--
-- Where frames are found:
--   * TCP port 7400 (the default link port): stream links, frames back to
--     back (PROTOCOL 5.2), reassembled across segments with
--     dissect_tcp_pdus;
--   * UDP port 7400: datagram links (one frame a datagram, or a batch of
--     link frames, PROTOCOL 5.3), and NOTIFY answers to nodes in datagram
--     link mode;
--   * UDP port 5670 (the default beacon port, groups 239.255.77.77 and
--     ff02::4e43): BEACON and SEARCH;
--   * UDP port 7401: the tracker port the README uses (the tracker has no
--     fixed default: `netcluster tracker --listen ADDR:PORT`);
--   * anywhere else over UDP and TCP, heuristically: a payload that starts
--     with a valid header (magic "NC", a known sub-protocol, a sane length);
--   * raw frames with no transport (for example admin traffic recorded from
--     its UNIX socket into a pcap with a DLT_USER link type): give the
--     "netcluster" dissector that DLT in the user_dlts table; the bytes are
--     read as a stream of frames back to back.
-- The ports are preferences (Edit > Preferences > Protocols > NETCLUSTER).
--
-- Every multi-byte integer is big-endian (PROTOCOL 1). Frames that the
-- reference decoder would refuse are still shown as far as they go, and
-- marked with expert info (group "Malformed", severity error) naming the
-- field, never with a Lua error.
--
-- Written for the Lua 5.2+ of Wireshark 3.x and 4.x: no native bitwise
-- operators (the `bit` library and UInt64 methods instead).

local nc = Proto("netcluster", "netcluster mesh protocol")

local MAGIC = 0x4e43
local HEADER_LEN = 10
local DEFAULT_MAX_FRAME = 1048576

---------------------------------------------------------------------------
-- Value names
---------------------------------------------------------------------------

local PROTOCOLS = { [1] = "discovery", [2] = "link", [3] = "admin", [4] = "tracker" }

local DISCOVERY_TYPES = { [1] = "BEACON", [2] = "SEARCH", [3] = "NOTIFY" }
local LINK_TYPES = {
    [1] = "HELLO", [2] = "WELCOME", [3] = "REJECT", [4] = "ADVERTISE", [5] = "PING",
    [6] = "PONG", [7] = "LSA", [8] = "DATA", [9] = "ACK", [10] = "GOODBYE",
    [11] = "ROUTE_ERROR", [12] = "LSA_ACK", [13] = "NOISE_INIT", [14] = "NOISE_RESP",
    [15] = "SEALED",
}
local ADMIN_TYPES = {
    [1] = "MEMBERS_REQUEST", [2] = "MEMBERS", [3] = "GROUPS_REQUEST", [4] = "GROUPS",
    [5] = "ROUTES_REQUEST", [6] = "ROUTES", [7] = "STATS_REQUEST", [8] = "STATS",
    [9] = "SEND", [10] = "RESULT", [11] = "SHOUT", [13] = "JOIN", [15] = "LEAVE",
    [17] = "PING", [18] = "PING_REPLY", [19] = "SUBSCRIBE", [20] = "EVENT",
    [21] = "MEMBERS_TRAFFIC_REQUEST", [22] = "MEMBERS_TRAFFIC", [23] = "LINKS_REQUEST",
    [24] = "LINKS",
}
local TRACKER_TYPES = { [1] = "REGISTER", [2] = "PEERS", [3] = "QUERY" }
local TYPES_BY_PROTOCOL = { DISCOVERY_TYPES, LINK_TYPES, ADMIN_TYPES, TRACKER_TYPES }

local EXT_TYPES = {
    [1] = "REPLAY_COUNTER", [2] = "AUTH_TAG", [3] = "NODE_ID", [4] = "CONGESTION",
    [5] = "CONGESTION_ECHO",
}
local STATES = { [0] = "INIT", [1] = "READY", [2] = "BUSY", [3] = "ERROR", [4] = "EXIT" }
local FAMILIES = { [4] = "IPv4", [6] = "IPv6" }
local REJECT_REASONS = {
    [0] = "OTHER", [1] = "VERSION", [2] = "CLUSTER", [3] = "DUPLICATE_ID", [4] = "LIMIT",
    [5] = "AUTH", [6] = "SHUTTING_DOWN", [7] = "PROTOCOL", [8] = "DUPLICATE_LINK",
}
local GOODBYE_REASONS = {
    [0] = "OTHER", [1] = "SHUTDOWN", [2] = "LINK_DROPPED", [3] = "KEEPALIVE_TIMEOUT",
    [4] = "PROTOCOL",
}
local SEMANTICS = { [0] = "datagram", [1] = "reliable", [2] = "sequenced", [3] = "stream" }
local STATUSES = {
    [0] = "ok", [1] = "unknown_target", [2] = "unreachable", [3] = "delivery_failed",
    [4] = "timeout", [5] = "bad_request", [6] = "limit", [7] = "not_subscribed",
    [8] = "not_member", [9] = "unsupported",
}
local EVENT_KINDS = {
    [0] = "peer_up", [1] = "peer_updated", [2] = "peer_down", [3] = "joined", [4] = "left",
    [5] = "message",
}
local DOWN_REASONS = {
    [0] = "left", [1] = "timed_out", [2] = "rejected", [3] = "unreachable", [4] = "restarted",
}
local LINK_KINDS = { [0] = "stream", [1] = "datagram" }
local HAS_GROUP = { [0] = "sent to this node alone", [1] = "shouted to a group" }

---------------------------------------------------------------------------
-- Fields
---------------------------------------------------------------------------

local F = {}
local function field(key, ctor, ...)
    F[key] = ctor("netcluster." .. key, ...)
end
local U8, U16, U32, U64 = ProtoField.uint8, ProtoField.uint16, ProtoField.uint32, ProtoField.uint64
local DEC, HEX = base.DEC, base.HEX

-- header
field("magic", U16, "Magic", HEX)
field("protocol", U8, "Sub-protocol", DEC, PROTOCOLS)
field("version", U8, "Version", DEC)
field("discovery.type", U8, "Message type", DEC, DISCOVERY_TYPES)
field("link.type", U8, "Message type", DEC, LINK_TYPES)
field("admin.type", U8, "Message type", DEC, ADMIN_TYPES)
field("tracker.type", U8, "Message type", DEC, TRACKER_TYPES)
field("msg_type", U8, "Message type", DEC)
field("flags", U8, "Frame flags", HEX)
field("flags.extensions", ProtoField.bool, "EXTENSIONS", 8, nil, 0x01)
field("flags.reserved", U8, "Reserved", HEX, nil, 0xfe)
field("length", U32, "Length", DEC)
-- extensions
field("ext_len", U16, "Extension block length", DEC)
field("ext.type", U16, "TLV type", HEX, EXT_TYPES, 0x7fff)
field("ext.mandatory", ProtoField.bool, "Mandatory (M)", 16, nil, 0x8000)
field("ext.length", U16, "TLV length", DEC)
field("ext.value", ProtoField.bytes, "TLV value")
field("ext.replay_counter", U64, "Replay counter", DEC)
field("ext.key_id", U8, "Key id", HEX)
field("ext.auth_tag", ProtoField.bytes, "Authentication tag")
field("ext.node_id", ProtoField.guid, "Sender node id")
-- shared types
field("node_id", ProtoField.guid, "Node id")
field("incarnation", U64, "Incarnation", DEC)
field("cluster_hash", U64, "Cluster hash", HEX)
field("state", U8, "State", DEC, STATES)
field("range_count", U8, "Range count", DEC)
field("range.protocol", U8, "Sub-protocol", DEC, PROTOCOLS)
field("range.min", U8, "Min version", DEC)
field("range.max", U8, "Max version", DEC)
field("addr.family", U8, "Address family", DEC, FAMILIES)
field("addr.port", U16, "Port", DEC)
field("addr.ipv4", ProtoField.ipv4, "IPv4 address")
field("addr.ipv6", ProtoField.ipv6, "IPv6 address")
field("str.len", U8, "Length", DEC)
field("str16.len", U16, "Length", DEC)
field("cluster", ProtoField.string, "Cluster")
field("name", ProtoField.string, "Name")
field("detail", ProtoField.string, "Detail")
field("headers.count", U16, "Header count", DEC)
field("header.key", ProtoField.string, "Key")
field("header.value", ProtoField.string, "Value")
field("groups.count", U16, "Group count", DEC)
field("group", ProtoField.string, "Group")
-- discovery
field("announce.sequence", U32, "Announcement sequence", DEC)
field("announce.interval_ms", U32, "Beacon interval (ms)", DEC)
field("announce.peer_count", U16, "Peer count", DEC)
-- link: intro, WELCOME, REJECT
field("capabilities", U32, "Capabilities", HEX)
field("capabilities.noise", ProtoField.bool, "CAP_NOISE", 32, nil, 0x00000001)
field("capabilities.auth", ProtoField.bool, "CAP_AUTH", 32, nil, 0x00000002)
field("capabilities.batch", ProtoField.bool, "CAP_BATCH", 32, nil, 0x00000004)
field("chosen_count", U8, "Chosen count", DEC)
field("chosen.protocol", U8, "Sub-protocol", DEC, PROTOCOLS)
field("chosen.version", U8, "Version", DEC)
field("reject.reason", U8, "Reason", DEC, REJECT_REASONS)
field("reject.protocol", U8, "Sub-protocol", DEC, PROTOCOLS)
field("reject.local_count", U8, "Local range count", DEC)
field("reject.remote_count", U8, "Remote range count", DEC)
-- ADVERTISE, PING, PONG, GOODBYE
field("advertise.interval_ms", U32, "Keepalive interval (ms)", DEC)
field("advertise.count", U8, "Keepalive count", DEC)
field("ping.token", U64, "Token", HEX)
field("goodbye.reason", U8, "Reason", DEC, GOODBYE_REASONS)
-- LSA, LSA_ACK
field("lsa.origin", ProtoField.guid, "Origin")
field("lsa.sequence", U64, "LSA sequence", DEC)
field("lsa.age_s", U16, "Age (s)", DEC)
field("lsa.flags", U8, "LSA flags", HEX)
field("lsa.flags.flush", ProtoField.bool, "FLUSH", 8, nil, 0x01)
field("lsa.flags.reserved", U8, "Reserved", HEX, nil, 0xfe)
field("lsa.neighbour_count", U16, "Neighbour count", DEC)
field("lsa.neighbour.id", ProtoField.guid, "Neighbour")
field("lsa.neighbour.cost", U16, "Cost", DEC)
field("lsa_ack.count", U16, "Key count", DEC)
-- NOISE_INIT, NOISE_RESP, SEALED (7.18, 12)
field("noise.key_id", U8, "Key id", HEX)
field("noise.ephemeral", ProtoField.bytes, "Ephemeral public key (e)")
field("noise.tag", ProtoField.bytes, "Tag of the empty payload")
field("sealed.nonce", U64, "Nonce", DEC)
field("sealed.tag", ProtoField.bytes, "Tag (Poly1305)")
-- DATA, ACK, ROUTE_ERROR
field("data.flags", U8, "DATA flags", HEX)
field("data.flags.group", ProtoField.bool, "GROUP", 8, nil, 0x01)
field("data.flags.syn", ProtoField.bool, "SYN", 8, nil, 0x02)
field("data.flags.fin", ProtoField.bool, "FIN", 8, nil, 0x04)
field("data.flags.rst", ProtoField.bool, "RST", 8, nil, 0x08)
field("data.flags.bundle", ProtoField.bool, "BUNDLE", 8, nil, 0x10)
field("data.flags.reserved", U8, "Reserved", HEX, nil, 0xe0)
field("semantics", U8, "Semantics", DEC, SEMANTICS)
field("route_count", U8, "Route entries", DEC)
field("data.priority", U8, "Priority", DEC)
field("channel", U32, "Channel", HEX)
field("channel.kind", ProtoField.string, "Channel use")
field("seq", U64, "Sequence number", DEC)
field("data.frag_index", U16, "Fragment index", DEC)
field("data.frag_count", U16, "Fragment count", DEC)
field("data.msg_len", U32, "Message length", DEC)
field("data.payload", ProtoField.bytes, "Payload")
-- bundle entries (flag BUNDLE, PROTOCOL 7.7.1)
field("data.bundle.index", U16, "Bundle entry index", DEC)
field("data.bundle.seq", U64, "Message seq (frame seq + index)", DEC)
field("data.bundle.len", U16, "Message length", DEC)
field("data.bundle.message", ProtoField.bytes, "Message")
field("route.id", ProtoField.guid, "Route entry")
field("route.parent", U8, "Parent index", DEC)
field("route.source", ProtoField.guid, "Route source (entry 0)")
field("route.destination", ProtoField.guid, "Route destination (last entry)")
field("ack.flags", U8, "ACK flags", HEX)
field("ack.range_count", U8, "Range count", DEC)
field("ack.cumulative", U64, "Cumulative", DEC)
field("ack.window", U32, "Window", DEC)
field("ack.range.start", U64, "Start", DEC)
field("ack.range.end", U64, "End (exclusive)", DEC)
field("route_error.reporter", ProtoField.guid, "Reporter")
field("route_error.unreachable", ProtoField.guid, "Unreachable next hop")
-- admin
field("admin.request_id", U32, "Request id", DEC)
field("admin.mode", U8, "Mode", DEC, SEMANTICS)
field("admin.target", ProtoField.string, "Target")
field("admin.payload", ProtoField.bytes, "Payload")
field("admin.ping_count", U16, "Ping count", DEC)
field("admin.event_mask", U32, "Event mask", HEX)
for k = 0, 5 do
    field("admin.event_mask." .. EVENT_KINDS[k], ProtoField.bool, EVENT_KINDS[k], 32, nil, 2 ^ k)
end
field("admin.event_mask.reserved", U32, "Reserved", HEX, nil, 0xffffffc0)
field("admin.status", U8, "Status", DEC, STATUSES)
field("admin.count", U16, "Record count", DEC)
field("admin.ping_sequence", U16, "Ping sequence", DEC)
field("admin.rtt_us", U32, "Round trip (us)", DEC)
field("admin.event_kind", U8, "Event kind", DEC, EVENT_KINDS)
field("admin.down_reason", U8, "Down reason", DEC, DOWN_REASONS)
field("admin.has_group", U8, "Has group", DEC, HAS_GROUP)
field("admin.hops", U8, "Hops", DEC)
field("admin.group.member_count", U32, "Member count", DEC)
field("admin.group.member", ProtoField.guid, "Member")
field("admin.route.destination", ProtoField.guid, "Destination")
field("admin.route.next_hop", ProtoField.guid, "Next hop")
field("admin.route.cost", U32, "Cost", DEC)
field("admin.route.path", ProtoField.guid, "Path entry")
field("admin.counter.value", U64, "Value", DEC)
field("admin.traffic.rx_bytes_per_sec", U64, "Received bytes/s", DEC)
field("admin.traffic.tx_bytes_per_sec", U64, "Sent bytes/s", DEC)
field("admin.traffic.rx_msgs_per_sec", U64, "Received messages/s", DEC)
field("admin.traffic.tx_msgs_per_sec", U64, "Sent messages/s", DEC)
field("admin.traffic.srtt_us", U32, "Smoothed round trip (us)", DEC)
field("admin.link.id", U64, "Link id", DEC)
field("admin.link.peer", ProtoField.guid, "Peer")
field("admin.link.kind", U8, "Kind", DEC, LINK_KINDS)
field("admin.link.flags", U8, "Link flags", HEX)
field("admin.link.flags.outgoing", ProtoField.bool, "Outgoing", 8, nil, 0x01)
field("admin.link.flags.up", ProtoField.bool, "Up", 8, nil, 0x02)
field("admin.link.flags.peer_known", ProtoField.bool, "Peer known", 8, nil, 0x04)
field("admin.link.flags.encrypted", ProtoField.bool, "Encrypted", 8, nil, 0x08)
field("admin.link.flags.reserved", U8, "Reserved", HEX, nil, 0xf0)
field("admin.link.queued_frames", U32, "Queued frames", DEC)
field("admin.link.queued_bytes", U64, "Queued bytes", DEC)
field("admin.link.queued_data_bytes", U64, "Queued DATA bytes", DEC)
field("admin.link.peak_bytes", U64, "Peak DATA bytes", DEC)
field("admin.link.dropped", U64, "Dropped", DEC)
field("admin.link.marked", U64, "Marked", DEC)
field("admin.link.rtt_us", U32, "Shortest keepalive round trip (us)", DEC)
-- tracker
field("tracker.ttl_s", U16, "TTL (s)", DEC)
field("tracker.offset", U16, "Offset", DEC)
field("tracker.max", U16, "Max entries", DEC)
field("tracker.total", U16, "Total", DEC)
field("tracker.peer_count", U8, "Peer count", DEC)
-- frames that could not be read at all
field("undecoded", ProtoField.bytes, "Undecoded bytes")
field("encrypted", ProtoField.bytes, "Ciphertext (not decrypted)")

local fields = {}
for _, f in pairs(F) do
    fields[#fields + 1] = f
end
nc.fields = fields

local E = {
    truncated = ProtoExpert.new("netcluster.truncated", "Truncated frame",
        expert.group.MALFORMED, expert.severity.ERROR),
    malformed = ProtoExpert.new("netcluster.malformed", "Malformed field",
        expert.group.MALFORMED, expert.severity.ERROR),
    framing = ProtoExpert.new("netcluster.framing", "Framing error",
        expert.group.MALFORMED, expert.severity.ERROR),
    unknown = ProtoExpert.new("netcluster.unknown", "Unknown message or sub-protocol",
        expert.group.UNDECODED, expert.severity.WARN),
    version = ProtoExpert.new("netcluster.version", "Unsupported version",
        expert.group.PROTOCOL, expert.severity.WARN),
    encrypted = ProtoExpert.new("netcluster.encrypted", "Encrypted link data",
        expert.group.UNDECODED, expert.severity.NOTE),
    limit = ProtoExpert.new("netcluster.oversized", "Past a default limit",
        expert.group.PROTOCOL, expert.severity.WARN),
    bug = ProtoExpert.new("netcluster.dissector_error", "Dissector error",
        expert.group.MALFORMED, expert.severity.ERROR),
}
nc.experts = { E.truncated, E.malformed, E.framing, E.unknown, E.version, E.encrypted, E.limit,
    E.bug }

-- The receivers' default limits (PROTOCOL 11, `Limits::DEFAULT`): a count
-- past one is refused as Oversized, and flagged here as a warning.
local LIMITS = {
    max_route = 64, max_groups = 1024, max_headers = 16384, max_neighbours = 4096,
    max_ack_ranges = 64, max_entries = 65535, max_peers_per_reply = 24,
}

local prefs = nc.prefs
prefs.tcp_link_port = Pref.uint("TCP link port", 7400, "Stream links (PROTOCOL 5.2)")
prefs.udp_link_port = Pref.uint("UDP link port", 7400, "Datagram links (PROTOCOL 5.3)")
prefs.udp_beacon_port = Pref.uint("UDP beacon port", 5670, "BEACON and SEARCH")
prefs.udp_tracker_port = Pref.uint("UDP tracker port", 7401, "Tracker (no fixed default)")
prefs.max_frame = Pref.uint("Max frame", DEFAULT_MAX_FRAME,
    "Frames longer than this on a stream are framing errors (Limits::max_frame)")

---------------------------------------------------------------------------
-- Helpers
---------------------------------------------------------------------------

local band = bit.band

local function name_of(tbl, v)
    return tbl[v] or ("unknown (" .. tostring(v) .. ")")
end

-- A short form of a node id for the Info column: its first 8 hex digits.
local function short_id(range)
    return tostring(range:bytes()):sub(1, 8):lower()
end

-- FNV-1a 64 of a Lua string (PROTOCOL 1.4), as a UInt64.
local FNV_OFFSET = UInt64(0x84222325, 0xcbf29ce4)
local FNV_PRIME = UInt64(0x000001b3, 0x00000100)
local function fnv1a64(s)
    local h = FNV_OFFSET
    for i = 1, #s do
        h = h:bxor(UInt64(s:byte(i))) * FNV_PRIME
    end
    return h
end

-- Whether the bytes of a Lua string are valid UTF-8 (no overlongs, no
-- surrogates, at most U+10FFFF), as Rust's str::from_utf8 checks.
local function valid_utf8(s)
    local i, n = 1, #s
    while i <= n do
        local c = s:byte(i)
        local need, lo, hi = 0, 0x80, 0xbf
        if c < 0x80 then
            need = 0
        elseif c >= 0xc2 and c <= 0xdf then
            need = 1
        elseif c == 0xe0 then
            need, lo = 2, 0xa0
        elseif (c >= 0xe1 and c <= 0xec) or c == 0xee or c == 0xef then
            need = 2
        elseif c == 0xed then
            need, hi = 2, 0x9f
        elseif c == 0xf0 then
            need, lo = 3, 0x90
        elseif c >= 0xf1 and c <= 0xf3 then
            need = 3
        elseif c == 0xf4 then
            need, hi = 3, 0x8f
        else
            return false
        end
        for k = 1, need do
            local b = s:byte(i + k)
            if not b then
                return false
            end
            if k == 1 then
                if b < lo or b > hi then
                    return false
                end
            elseif b < 0x80 or b > 0xbf then
                return false
            end
        end
        i = i + need + 1
    end
    return true
end

---------------------------------------------------------------------------
-- A reader over one frame: every read checks the frame's end and raises a
-- "truncated" failure naming the field, which dissect_frame turns into
-- expert info. Values that the codec refuses are flagged on their item
-- and decoding goes on, so that as much as possible is shown.
---------------------------------------------------------------------------

local Failure = {}
Failure.__index = Failure

local function fail(kind, field_name, text)
    error(setmetatable({ kind = kind, field = field_name, text = text }, Failure), 0)
end

-- A text item (no field) grouping what follows `start`; its length is set
-- once its children are read. A zero-length range at the very end of the
-- buffer is not allowed, so there it starts one byte early, still empty.
local function group_item(tree, tvb, start, label)
    if start >= tvb:len() then
        return tree:add(tvb(tvb:len() - 1, 0), label)
    end
    return tree:add(tvb(start, 0), label)
end

local Reader = {}
Reader.__index = Reader

local function reader(tvb, pos, stop)
    return setmetatable({ tvb = tvb, pos = pos, stop = stop }, Reader)
end

function Reader:left()
    return self.stop - self.pos
end

function Reader:take(n, name)
    if self.pos + n > self.stop then
        fail("truncated", name)
    end
    local r = self.tvb(self.pos, n)
    self.pos = self.pos + n
    return r
end

-- Adds field `f` over the next `n` bytes; returns the range and the item.
function Reader:add(tree, f, n, name)
    local r = self:take(n, name)
    return r, tree:add(f, r)
end

function Reader:uint(tree, f, n, name)
    local r, item = self:add(tree, f, n, name)
    return r:uint(), item, r
end

function Reader:u64(tree, f, name)
    local r, item = self:add(tree, f, 8, name)
    return r:uint64(), item, r
end

local function flag(item, text)
    item:add_proto_expert_info(E.malformed, text)
end

-- Flags `item` when `n` is past the default limit `limit`.
local function check_limit(item, n, limit, name)
    if n > LIMITS[limit] then
        item:add_proto_expert_info(E.limit, name .. ": " .. n .. " is past " .. limit .. " ("
            .. LIMITS[limit] .. "): Oversized")
    end
end

-- A value restricted to the names of `tbl` (states, semantics...).
function Reader:enum(tree, f, tbl, name)
    local v, item, r = self:uint(tree, f, 1, name)
    if tbl[v] == nil then
        flag(item, name .. ": " .. v .. " is not a defined value")
    end
    return v, item, r
end

function Reader:node_id(tree, f, name)
    local r, item = self:add(tree, f or F.node_id, 16, name or "node_id")
    return r, item
end

-- str8 / str16: a subtree with the length, then the UTF-8 text as the
-- field `f` (absent when empty).
function Reader:str(tree, f, name, wide)
    local start = self.pos
    local w = wide and 2 or 1
    local len_r = self:take(w, name)
    local n = len_r:uint()
    local sub = group_item(tree, self.tvb, start, name)
    local len_item = sub:add(wide and F["str16.len"] or F["str.len"], len_r)
    if self.pos + n > self.stop then
        flag(len_item, name .. ": length " .. n .. " runs past the end of the frame")
        fail("truncated", name)
    end
    local s = ""
    if n > 0 then
        local r = self:take(n, name)
        s = r:raw()
        local item
        if s:find("%z") then
            -- A NUL is valid UTF-8, and the codec takes it; Wireshark's own
            -- string decoding would call it stray. Shown with every NUL and
            -- non-ASCII byte as "?", so the value stays printable.
            item = sub:add(f, r, (s:gsub("[%z\128-\255]", "?")))
        else
            item = sub:add(f, r)
        end
        if not valid_utf8(s) then
            flag(item, name .. ": not valid UTF-8")
        end
    end
    sub:set_len(n + w)
    sub:set_text(name .. ": \"" .. s .. "\"")
    return s
end

function Reader:addr(tree, name)
    local start = self.pos
    local sub = group_item(tree, self.tvb, start, name)
    local family, fitem = self:uint(sub, F["addr.family"], 1, name)
    local port = self:uint(sub, F["addr.port"], 2, name)
    local text
    if family == 4 then
        local r = self:add(sub, F["addr.ipv4"], 4, name)
        text = tostring(r:ipv4()) .. ":" .. port
    elseif family == 6 then
        local r = self:add(sub, F["addr.ipv6"], 16, name)
        text = "[" .. tostring(r:ipv6()) .. "]:" .. port
    else
        flag(fitem, name .. ": family " .. family .. " is neither 4 nor 6")
        fail("malformed", name, "address family " .. family)
    end
    sub:set_len(self.pos - start)
    sub:set_text(name .. ": " .. text)
    return text
end

function Reader:ranges(tree, count, name)
    local sub = group_item(tree, self.tvb, self.pos, name .. " (" .. count .. ")")
    local start = self.pos
    for _ = 1, count do
        local rstart = self.pos
        local e = group_item(sub, self.tvb, rstart, "range")
        local p = self:uint(e, F["range.protocol"], 1, name)
        local lo, lo_item = self:uint(e, F["range.min"], 1, name)
        local hi = self:uint(e, F["range.max"], 1, name)
        e:set_len(3)
        e:set_text(name_of(PROTOCOLS, p) .. " " .. lo .. "..=" .. hi)
        if lo < 1 or lo > hi then
            flag(lo_item, "version_range: min must be >= 1 and <= max")
        end
    end
    sub:set_len(self.pos - start)
end

function Reader:str_list(tree, name)
    local start = self.pos
    local sub = group_item(tree, self.tvb, start, name)
    local n, count_item = self:uint(sub, F["groups.count"], 2, name)
    check_limit(count_item, n, "max_groups", "groups")
    local names = {}
    for _ = 1, n do
        names[#names + 1] = self:str(sub, F.group, "group")
    end
    sub:set_len(self.pos - start)
    sub:set_text(name .. " (" .. n .. "): " .. table.concat(names, ", "))
    return names
end

function Reader:header_list(tree, name)
    local start = self.pos
    local sub = group_item(tree, self.tvb, start, name)
    local n = self:uint(sub, F["headers.count"], 2, name)
    local pairs_text = {}
    for _ = 1, n do
        local k = self:str(sub, F["header.key"], "key")
        local v = self:str(sub, F["header.value"], "value", true)
        pairs_text[#pairs_text + 1] = k .. "=" .. v
    end
    check_limit(sub, self.pos - start, "max_headers", "headers")
    sub:set_len(self.pos - start)
    sub:set_text(name .. " (" .. n .. "): " .. table.concat(pairs_text, ", "))
end

-- A source route (PROTOCOL 8): `n` ids, then `n` parent indices. With
-- `path`, every parent must be the entry before.
function Reader:route(tree, n, path, name)
    local start = self.pos
    local sub = group_item(tree, self.tvb, start, name)
    if n < 1 then
        flag(sub, "route_count: a route has at least one entry")
    end
    check_limit(sub, n, "max_route", "route_ids")
    local ids, seen = {}, {}
    for i = 0, n - 1 do
        local r, item = self:node_id(sub, F["route.id"], "route_ids")
        item:prepend_text("[" .. i .. "] ")
        local key = tostring(r:bytes())
        if seen[key] then
            flag(item, "route_ids: the id appears twice")
        end
        seen[key] = true
        ids[#ids + 1] = r
    end
    local tree_shape = false
    for i = 0, n - 1 do
        local p, item = self:uint(sub, F["route.parent"], 1, "route_parents")
        item:prepend_text("[" .. i .. "] ")
        if i == 0 then
            if p ~= 0xff then
                flag(item, "route_parents: entry 0 (the origin) must have parent 0xff")
            end
        elseif p >= i then
            flag(item, "route_parents: a parent must be an earlier entry")
        elseif p ~= i - 1 then
            tree_shape = true
            if path then
                flag(item, "route_parents: this route must be a path (parent = index - 1)")
            end
        end
    end
    if n >= 1 then
        sub:add(F["route.source"], ids[1]):set_generated()
        if not tree_shape then
            sub:add(F["route.destination"], ids[n]):set_generated()
        end
    end
    local shorts = {}
    for i = 1, #ids do
        shorts[i] = short_id(ids[i])
    end
    sub:set_len(self.pos - start)
    local sep = tree_shape and ", " or " -> "
    sub:set_text(name .. " (" .. n .. (tree_shape and " entries, a tree): " or " entries): ")
        .. table.concat(shorts, sep))
    return shorts, tree_shape
end

---------------------------------------------------------------------------
-- Discovery (PROTOCOL 6)
---------------------------------------------------------------------------

local function announcement(r, t)
    local id = r:node_id(t)
    r:u64(t, F.cluster_hash, "cluster_hash")
    r:u64(t, F.incarnation, "incarnation")
    local seq = r:uint(t, F["announce.sequence"], 4, "sequence")
    r:uint(t, F["announce.interval_ms"], 4, "interval_ms")
    r:uint(t, F["announce.peer_count"], 2, "peer_count")
    local state = r:enum(t, F.state, STATES, "state")
    local n = r:uint(t, F.range_count, 1, "range_count")
    local addr = r:addr(t, "link_addr")
    r:ranges(t, n, "ranges")
    return "node=" .. short_id(id) .. " seq=" .. seq .. " " .. name_of(STATES, state) .. " " .. addr
end

---------------------------------------------------------------------------
-- Link (PROTOCOL 7)
---------------------------------------------------------------------------

-- The intro of HELLO and WELCOME (7.1); returns the capabilities and text.
local function intro(r, t)
    local id = r:node_id(t)
    r:u64(t, F.incarnation, "incarnation")
    local hash, hash_item = r:u64(t, F.cluster_hash, "cluster_hash")
    local caps, caps_item, caps_r = r:uint(t, F.capabilities, 4, "capabilities")
    caps_item:add(F["capabilities.noise"], caps_r)
    caps_item:add(F["capabilities.auth"], caps_r)
    caps_item:add(F["capabilities.batch"], caps_r)
    r:enum(t, F.state, STATES, "state")
    local n = r:uint(t, F.range_count, 1, "range_count")
    local addr = r:addr(t, "link_addr")
    local cluster = r:str(t, F.cluster, "cluster")
    if fnv1a64(cluster) ~= hash then
        flag(hash_item, "cluster_hash: not the FNV-1a 64 of the cluster name")
    end
    local name = r:str(t, F.name, "name")
    r:ranges(t, n, "ranges")
    r:header_list(t, "headers")
    r:str_list(t, "groups")
    return caps, "node=" .. short_id(id) .. " name=" .. name .. " cluster=" .. cluster .. " " .. addr
end

-- Stream links whose HELLO and WELCOME both set CAP_NOISE switch to a Noise
-- session after the WELCOME (PROTOCOL 12, "Encrypted links"): reserved, not
-- implemented in v1, and v1 nodes never set the bit. This dissector only
-- remembers such conversations (by TCP stream) so that what follows the
-- WELCOME is shown as encrypted link data instead of framing errors.
--
-- SEALED records are not decrypted (the dissector has no keys): their
-- ciphertext shows as `netcluster.encrypted`.

local LINK = {}

LINK[1] = function(r, t) -- HELLO
    local _, text = intro(r, t)
    return text
end

LINK[2] = function(r, t) -- WELCOME
    local _, text = intro(r, t)
    local n = r:uint(t, F.chosen_count, 1, "chosen_count")
    local start = r.pos
    local sub = group_item(t, r.tvb, start, "chosen (" .. n .. ")")
    for _ = 1, n do
        local e = group_item(sub, r.tvb, r.pos, "chosen")
        local p = r:uint(e, F["chosen.protocol"], 1, "chosen")
        local v, item = r:uint(e, F["chosen.version"], 1, "chosen")
        if v < 1 then
            flag(item, "chosen: version 0 is never valid")
        end
        e:set_len(2)
        e:set_text(name_of(PROTOCOLS, p) .. " v" .. v)
    end
    sub:set_len(r.pos - start)
    return text
end

LINK[3] = function(r, t) -- REJECT
    local reason = r:uint(t, F["reject.reason"], 1, "reason")
    r:uint(t, F["reject.protocol"], 1, "protocol")
    local nl = r:uint(t, F["reject.local_count"], 1, "local_count")
    local nr = r:uint(t, F["reject.remote_count"], 1, "remote_count")
    r:ranges(t, nl, "local_ranges")
    r:ranges(t, nr, "remote_ranges")
    local detail = r:str(t, F.detail, "detail")
    return name_of(REJECT_REASONS, reason) .. " \"" .. detail .. "\""
end

LINK[4] = function(r, t) -- ADVERTISE
    local ms = r:uint(t, F["advertise.interval_ms"], 4, "advertise")
    local count = r:uint(t, F["advertise.count"], 1, "advertise")
    return "interval=" .. ms .. "ms count=" .. count
end

local function ping_pong(r, t)
    local token = r:u64(t, F["ping.token"], "token")
    return "token=0x" .. token:tohex()
end
LINK[5] = ping_pong
LINK[6] = ping_pong

LINK[7] = function(r, t) -- LSA
    local origin = r:node_id(t, F["lsa.origin"], "origin")
    r:u64(t, F.incarnation, "incarnation")
    local seq = r:u64(t, F["lsa.sequence"], "sequence")
    r:uint(t, F["lsa.age_s"], 2, "age_s")
    r:enum(t, F.state, STATES, "state")
    local fl, fitem, fr = r:uint(t, F["lsa.flags"], 1, "flags")
    fitem:add(F["lsa.flags.flush"], fr)
    fitem:add(F["lsa.flags.reserved"], fr)
    if band(fl, 0xfe) ~= 0 then
        flag(fitem, "flags: reserved bits set")
    end
    local n, n_item = r:uint(t, F["lsa.neighbour_count"], 2, "neighbour_count")
    check_limit(n_item, n, "max_neighbours", "neighbours")
    r:addr(t, "link_addr")
    local name = r:str(t, F.name, "name")
    local start = r.pos
    local sub = group_item(t, r.tvb, start, "neighbours (" .. n .. ")")
    for _ = 1, n do
        local e = group_item(sub, r.tvb, r.pos, "neighbour")
        local id = r:node_id(e, F["lsa.neighbour.id"], "neighbours")
        local cost, citem = r:uint(e, F["lsa.neighbour.cost"], 2, "cost")
        if cost < 1 then
            flag(citem, "cost: must be at least 1")
        end
        e:set_len(18)
        e:set_text("neighbour " .. short_id(id) .. " cost " .. cost)
    end
    sub:set_len(r.pos - start)
    r:str_list(t, "groups")
    r:header_list(t, "headers")
    return "origin=" .. short_id(origin) .. " name=" .. name .. " seq=" .. tostring(seq)
        .. " neighbours=" .. n .. (band(fl, 1) ~= 0 and " FLUSH" or "")
end

-- What a channel number is used for (7.7, 7.7.2, 7.7.3).
local function channel_kind(ch)
    if ch >= 0x80000000 then
        return "group channel (semantics " .. band(ch, 3) .. ")"
    elseif ch >= 0x60000000 then
        return "stream " .. (ch - 0x60000000) .. ", responder's direction"
    elseif ch >= 0x40000000 then
        return "stream " .. (ch - 0x40000000) .. ", opener's direction"
    elseif ch <= 2 then
        return SEMANTICS[ch] .. " messages"
    elseif ch == 3 then
        return "ping"
    elseif ch == 4 then
        return "pong"
    end
    return "unassigned"
end

-- Reads a channel; returns it as the Info column shows it (hex for the
-- stream and group ranges).
local function channel(r, t)
    local ch, item, cr = r:uint(t, F.channel, 4, "channel")
    item:add(F["channel.kind"], cr, channel_kind(ch)):set_generated()
    if ch >= 0x40000000 then
        return string.format("0x%08x", ch)
    end
    return tostring(ch)
end

-- The entries of a bundle's payload (7.7.1), at [start, start + plen) of
-- the frame: `count` of them, each a u16 length then that many bytes,
-- exactly filling the payload (else Malformed "bundle", as the codec's
-- check_bundle). Entry i is the message of seq `seq` + i.
local function bundle_entries(tree, tvb, start, plen, count, seq)
    local sub = group_item(tree, tvb, start, "bundle (" .. count .. " messages)")
    local stop, at = start + plen, start
    for i = 0, count - 1 do
        if at + 2 > stop then
            flag(sub, "bundle: entry " .. i .. " of " .. count .. " has no room for its length"
                .. " (" .. (stop - at) .. " bytes left)")
            sub:set_len(stop - start)
            return
        end
        local len = tvb(at, 2):uint()
        if at + 2 + len > stop then
            flag(sub, "bundle: entry " .. i .. " (" .. len .. " bytes) overruns the payload by "
                .. (at + 2 + len - stop) .. " bytes")
            sub:set_len(stop - start)
            return
        end
        local s = seq + UInt64(i)
        local e = sub:add(tvb(at, 2 + len), "message " .. i .. ": seq " .. tostring(s) .. ", "
            .. len .. " bytes")
        e:add(F["data.bundle.index"], tvb(at, 2 + len), i):set_generated()
        e:add(F["data.bundle.seq"], tvb(at, 2 + len), s):set_generated()
        e:add(F["data.bundle.len"], tvb(at, 2))
        if len > 0 then
            e:add(F["data.bundle.message"], tvb(at + 2, len))
        end
        at = at + 2 + len
    end
    if at ~= stop then
        flag(sub, "bundle: " .. (stop - at) .. " bytes after the last of the " .. count
            .. " entries (frag_count)")
    end
    sub:set_len(stop - start)
end

LINK[8] = function(r, t) -- DATA
    local fl, fitem, fr = r:uint(t, F["data.flags"], 1, "flags")
    for _, k in ipairs({ "group", "syn", "fin", "rst", "bundle", "reserved" }) do
        fitem:add(F["data.flags." .. k], fr)
    end
    if band(fl, 0xe0) ~= 0 then
        flag(fitem, "flags: reserved bits set")
    end
    local sem = r:enum(t, F.semantics, SEMANTICS, "semantics")
    local n = r:uint(t, F.route_count, 1, "route_count")
    local prio, pitem = r:uint(t, F["data.priority"], 1, "priority")
    if prio > 7 then
        flag(pitem, "priority: above 7")
    end
    local ch = channel(r, t)
    local seq = r:u64(t, F.seq, "seq")
    local fi, fi_item = r:uint(t, F["data.frag_index"], 2, "frag_index")
    local fc = r:uint(t, F["data.frag_count"], 2, "frag_count")
    if fi >= fc then
        flag(fi_item, "frag_index: must be below frag_count")
    end
    local ml, ml_item = r:uint(t, F["data.msg_len"], 4, "msg_len")
    local group = band(fl, 1) ~= 0
    local bundle = band(fl, 0x10) ~= 0
    local shorts, tree_shape = r:route(t, n, not group, "route")
    local gname
    if group then
        gname = r:str(t, F.group, "group")
    end
    local pstart, plen = r.pos, r:left()
    local pitem
    if plen > 0 then
        local _
        _, pitem = r:add(t, F["data.payload"], plen, "payload")
    end
    if ml < plen then
        flag(ml_item, "msg_len: below this fragment's payload length")
    end
    if bundle then
        -- Whole messages of one unicast channel only (7.7.1).
        if band(fl, 0x0d) ~= 0 then
            flag(fitem, "flags: BUNDLE with GROUP, FIN or RST")
        end
        if sem == 3 then
            flag(fitem, "flags: BUNDLE on a stream (streams are never bundled)")
        end
        if fi ~= 0 then
            flag(fi_item, "flags: BUNDLE with frag_index " .. fi .. " (a bundle is never a fragment)")
        end
        if ml ~= plen then
            flag(ml_item, "msg_len: " .. ml .. " is not the bundle's payload length (" .. plen .. ")")
        end
        bundle_entries(pitem or t, r.tvb, pstart, plen, fc, seq)
    end
    local text = name_of(SEMANTICS, sem) .. " ch=" .. ch .. " seq=" .. tostring(seq)
    if bundle then
        -- The messages' seqs: the frame's, up to the last entry's.
        if fc > 1 then
            text = text .. ".." .. tostring(seq + UInt64(fc - 1))
        end
        text = text .. " bundle=" .. fc
    elseif fc > 1 then
        text = text .. " frag=" .. fi .. "/" .. fc
    end
    if group then
        text = text .. " group=\"" .. gname .. "\""
    end
    for _, k in ipairs({ { 2, "SYN" }, { 4, "FIN" }, { 8, "RST" } }) do
        if band(fl, k[1]) ~= 0 then
            text = text .. " " .. k[2]
        end
    end
    return text .. " " .. table.concat(shorts, tree_shape and "," or ">") .. " len=" .. plen
end

LINK[9] = function(r, t) -- ACK
    local fl, fitem = r:uint(t, F["ack.flags"], 1, "flags")
    if fl ~= 0 then
        flag(fitem, "flags: none are defined, must be zero")
    end
    r:enum(t, F.semantics, SEMANTICS, "semantics")
    local n = r:uint(t, F.route_count, 1, "route_count")
    local nranges, nr_item = r:uint(t, F["ack.range_count"], 1, "range_count")
    check_limit(nr_item, nranges, "max_ack_ranges", "ranges")
    local ch = channel(r, t)
    local cum = r:u64(t, F["ack.cumulative"], "cumulative")
    local win = r:uint(t, F["ack.window"], 4, "window")
    local shorts = r:route(t, n, true, "route")
    local start = r.pos
    local sub = group_item(t, r.tvb, start, "ranges (" .. nranges .. ")")
    local texts = {}
    for _ = 1, nranges do
        local e = group_item(sub, r.tvb, r.pos, "range")
        local s = r:u64(e, F["ack.range.start"], "ranges")
        local en, eitem = r:u64(e, F["ack.range.end"], "ranges")
        if not (s < en) then
            flag(eitem, "ranges: start must be below end")
        end
        e:set_len(16)
        e:set_text("[" .. tostring(s) .. ", " .. tostring(en) .. ")")
        texts[#texts + 1] = "[" .. tostring(s) .. "," .. tostring(en) .. ")"
    end
    sub:set_len(r.pos - start)
    local text = "ch=" .. ch .. " cum=" .. tostring(cum) .. " win=" .. win
    if #texts > 0 then
        text = text .. " ranges=" .. table.concat(texts, "")
    end
    return text .. " " .. table.concat(shorts, ">")
end

LINK[10] = function(r, t) -- GOODBYE
    local reason = r:uint(t, F["goodbye.reason"], 1, "reason")
    local detail = r:str(t, F.detail, "detail")
    return name_of(GOODBYE_REASONS, reason) .. " \"" .. detail .. "\""
end

LINK[11] = function(r, t) -- ROUTE_ERROR
    local rep = r:node_id(t, F["route_error.reporter"], "reporter")
    local unr = r:node_id(t, F["route_error.unreachable"], "unreachable")
    local seq = r:u64(t, F.seq, "seq")
    local ch = channel(r, t)
    r:enum(t, F.semantics, SEMANTICS, "semantics")
    local n = r:uint(t, F.route_count, 1, "route_count")
    r:route(t, n, true, "route")
    return short_id(rep) .. " cannot reach " .. short_id(unr) .. " ch=" .. ch .. " seq=" .. tostring(seq)
end

LINK[12] = function(r, t) -- LSA_ACK
    local n = r:uint(t, F["lsa_ack.count"], 2, "lsa_ack_field")
    for _ = 1, n do
        local e = group_item(t, r.tvb, r.pos, "key")
        local o = r:node_id(e, F["lsa.origin"], "keys")
        local inc = r:u64(e, F.incarnation, "keys")
        local seq = r:u64(e, F["lsa.sequence"], "keys")
        e:set_len(32)
        e:set_text("key: " .. short_id(o) .. " incarnation " .. tostring(inc) .. " sequence " .. tostring(seq))
    end
    return n .. " keys"
end

LINK[13] = function(r, t) -- NOISE_INIT
    local id = r:uint(t, F["noise.key_id"], 1, "noise_init")
    r:add(t, F["noise.ephemeral"], 32, "noise_init")
    r:add(t, F["noise.tag"], 16, "noise_init")
    return string.format("key_id=0x%02x", id)
end

LINK[14] = function(r, t) -- NOISE_RESP
    r:add(t, F["noise.ephemeral"], 32, "noise_resp")
    r:add(t, F["noise.tag"], 16, "noise_resp")
    return "e, ee"
end

LINK[15] = function(r, t) -- SEALED
    local nonce = r:u64(t, F["sealed.nonce"], "sealed_field")
    local n = r:left()
    if n < 16 then
        r:take(16, "sealed")
    end
    local _, item = r:add(t, F.encrypted, n - 16, "sealed")
    r:add(t, F["sealed.tag"], 16, "sealed")
    if n > 65535 then
        flag(item, "sealed: ciphertext of " .. n .. " bytes, more than a Noise message (65535): Oversized")
    end
    return "nonce=" .. tostring(nonce) .. " len=" .. (n - 16)
end

---------------------------------------------------------------------------
-- Admin (PROTOCOL 9)
---------------------------------------------------------------------------

local function member_record(r, t, label)
    local start = r.pos
    local sub = group_item(t, r.tvb, start, label)
    local id = r:node_id(sub)
    r:u64(sub, F.incarnation, "incarnation")
    r:enum(sub, F.state, STATES, "state")
    r:uint(sub, F["admin.hops"], 1, "hops")
    r:addr(sub, "link_addr")
    local name = r:str(sub, F.name, "name")
    r:str_list(sub, "groups")
    r:header_list(sub, "headers")
    sub:set_len(r.pos - start)
    sub:append_text(": " .. name .. " (" .. short_id(id) .. ")")
    return name
end

local function group_record(r, t, label)
    local start = r.pos
    local sub = group_item(t, r.tvb, start, label)
    local n, n_item = r:uint(sub, F["admin.group.member_count"], 4, "member_count")
    check_limit(n_item, n, "max_entries", "member_count")
    local name = r:str(sub, F.group, "name")
    for _ = 1, n do
        r:node_id(sub, F["admin.group.member"], "members")
    end
    sub:set_len(r.pos - start)
    sub:append_text(": \"" .. name .. "\", " .. n .. " members")
end

local function route_record(r, t, label)
    local start = r.pos
    local sub = group_item(t, r.tvb, start, label)
    local dest = r:node_id(sub, F["admin.route.destination"], "destination")
    r:node_id(sub, F["admin.route.next_hop"], "next_hop")
    r:uint(sub, F["admin.route.cost"], 4, "cost")
    local hops, hops_item = r:uint(sub, F["admin.hops"], 1, "hops")
    check_limit(hops_item, hops, "max_route", "hops")
    for _ = 1, hops do
        r:node_id(sub, F["admin.route.path"], "path")
    end
    sub:set_len(r.pos - start)
    sub:append_text(": to " .. short_id(dest) .. ", " .. hops .. " hops")
end

local function counter_record(r, t, label)
    local start = r.pos
    local sub = group_item(t, r.tvb, start, label)
    local v = r:u64(sub, F["admin.counter.value"], "value")
    local name = r:str(sub, F.name, "name")
    sub:set_len(r.pos - start)
    sub:append_text(": " .. name .. " = " .. tostring(v))
end

local function traffic_record(r, t, label)
    local start = r.pos
    local sub = group_item(t, r.tvb, start, label)
    r:u64(sub, F["admin.traffic.rx_bytes_per_sec"], "rx_bytes_per_sec")
    r:u64(sub, F["admin.traffic.tx_bytes_per_sec"], "tx_bytes_per_sec")
    r:u64(sub, F["admin.traffic.rx_msgs_per_sec"], "rx_msgs_per_sec")
    r:u64(sub, F["admin.traffic.tx_msgs_per_sec"], "tx_msgs_per_sec")
    r:uint(sub, F["admin.traffic.srtt_us"], 4, "srtt_us")
    local name = member_record(r, sub, "member")
    sub:set_len(r.pos - start)
    sub:append_text(": " .. name)
end

local function link_record(r, t, label)
    local start = r.pos
    local sub = group_item(t, r.tvb, start, label)
    local id = r:u64(sub, F["admin.link.id"], "link_id")
    local peer, peer_item = r:node_id(sub, F["admin.link.peer"], "peer")
    r:enum(sub, F["admin.link.kind"], LINK_KINDS, "kind")
    local fl, fitem, fr = r:uint(sub, F["admin.link.flags"], 1, "link_flags")
    for _, k in ipairs({ "outgoing", "up", "peer_known", "encrypted", "reserved" }) do
        fitem:add(F["admin.link.flags." .. k], fr)
    end
    if band(fl, 0xf0) ~= 0 then
        flag(fitem, "link_flags: reserved bits set")
    end
    if band(fl, 4) == 0 and tostring(peer:bytes()) ~= string.rep("0", 32) then
        flag(peer_item, "peer: a peer id without the peer-known flag")
    end
    r:uint(sub, F["admin.link.queued_frames"], 4, "queued_frames")
    r:u64(sub, F["admin.link.queued_bytes"], "queued_bytes")
    r:u64(sub, F["admin.link.queued_data_bytes"], "queued_data_bytes")
    r:u64(sub, F["admin.link.peak_bytes"], "peak_bytes")
    r:u64(sub, F["admin.link.dropped"], "dropped")
    r:u64(sub, F["admin.link.marked"], "marked")
    r:uint(sub, F["admin.link.rtt_us"], 4, "rtt_us")
    local addr = r:addr(sub, "addr")
    sub:set_len(r.pos - start)
    sub:append_text(": " .. tostring(id) .. " " .. addr)
end

local LISTINGS = {
    [2] = { "member_count", "member", member_record },
    [4] = { "group_count", "group", group_record },
    [6] = { "route_count", "route", route_record },
    [8] = { "counter_count", "counter", counter_record },
    [22] = { "member_count", "member", traffic_record },
    [24] = { "link_count", "link", link_record },
}

local function request_id(r, t)
    return "req=" .. r:uint(t, F["admin.request_id"], 4, "request_id")
end

local function admin(r, t, msg_type)
    local text = request_id(r, t)
    local listing = LISTINGS[msg_type]
    if listing then
        local n = r:uint(t, F["admin.count"], 2, listing[1])
        for i = 0, n - 1 do
            listing[3](r, t, listing[2] .. "[" .. i .. "]")
        end
        return text .. " " .. n .. " records"
    elseif msg_type == 9 or msg_type == 11 then -- SEND, SHOUT
        local mode = r:enum(t, F["admin.mode"], SEMANTICS, "mode")
        local target
        if msg_type == 9 then
            target = r:str(t, F["admin.target"], "target")
        else
            target = r:str(t, F.group, "group")
        end
        local n = r:left()
        if n > 0 then
            r:add(t, F["admin.payload"], n, "payload")
        end
        return text .. " " .. name_of(SEMANTICS, mode) .. " to \"" .. target .. "\" len=" .. n
    elseif msg_type == 10 then -- RESULT
        local status = r:enum(t, F["admin.status"], STATUSES, "status")
        local detail = r:str(t, F.detail, "detail", true)
        return text .. " " .. name_of(STATUSES, status) .. " \"" .. detail .. "\""
    elseif msg_type == 13 or msg_type == 15 then -- JOIN, LEAVE
        return text .. " \"" .. r:str(t, F.group, "group") .. "\""
    elseif msg_type == 17 then -- PING
        local n = r:uint(t, F["admin.ping_count"], 2, "count")
        return text .. " " .. r:str(t, F["admin.target"], "target") .. " x" .. n
    elseif msg_type == 18 then -- PING_REPLY
        local id = r:node_id(t, F.node_id, "target")
        local seq = r:uint(t, F["admin.ping_sequence"], 2, "sequence")
        local rtt = r:uint(t, F["admin.rtt_us"], 4, "rtt_us")
        return text .. " " .. short_id(id) .. " #" .. seq .. " " .. rtt .. "us"
    elseif msg_type == 19 then -- SUBSCRIBE
        local mask, item, mr = r:uint(t, F["admin.event_mask"], 4, "event_mask")
        for k = 0, 5 do
            item:add(F["admin.event_mask." .. EVENT_KINDS[k]], mr)
        end
        item:add(F["admin.event_mask.reserved"], mr)
        if mask >= 0x40 then
            flag(item, "event_mask: undefined bits set")
        end
        return text .. string.format(" mask=0x%x", mask)
    elseif msg_type == 20 then -- EVENT
        local kind = r:enum(t, F["admin.event_kind"], EVENT_KINDS, "kind")
        if kind == 0 or kind == 1 then
            return text .. " " .. EVENT_KINDS[kind] .. " " .. member_record(r, t, "member")
        elseif kind == 2 then
            local id = r:node_id(t)
            local reason = r:enum(t, F["admin.down_reason"], DOWN_REASONS, "reason")
            local name = r:str(t, F.name, "name")
            return text .. " peer_down " .. name .. " (" .. short_id(id) .. ") "
                .. name_of(DOWN_REASONS, reason)
        elseif kind == 3 or kind == 4 then
            local id = r:node_id(t)
            local group = r:str(t, F.group, "group")
            return text .. " " .. EVENT_KINDS[kind] .. " " .. short_id(id) .. " \"" .. group .. "\""
        elseif kind == 5 then
            local id = r:node_id(t, F.node_id, "from")
            r:enum(t, F["admin.mode"], SEMANTICS, "mode")
            local has = r:enum(t, F["admin.has_group"], HAS_GROUP, "has_group")
            if has == 1 then
                r:str(t, F.group, "group")
            end
            local n = r:left()
            if n > 0 then
                r:add(t, F["admin.payload"], n, "payload")
            end
            return text .. " message from " .. short_id(id) .. " len=" .. n
        end
        fail("malformed", "kind", "unknown event kind " .. kind)
    end
    -- the requests of a request_id alone (1, 3, 5, 7, 21, 23)
    return text
end

---------------------------------------------------------------------------
-- Tracker (PROTOCOL 10)
---------------------------------------------------------------------------

local TRACKER = {}

TRACKER[1] = function(r, t) -- REGISTER
    r:u64(t, F.cluster_hash, "cluster_hash")
    local id = r:node_id(t)
    r:u64(t, F.incarnation, "incarnation")
    local ttl = r:uint(t, F["tracker.ttl_s"], 2, "ttl_s")
    local addr = r:addr(t, "link_addr")
    return "node=" .. short_id(id) .. " ttl=" .. ttl .. "s " .. addr
end

TRACKER[2] = function(r, t) -- PEERS
    r:u64(t, F.cluster_hash, "cluster_hash")
    local total = r:uint(t, F["tracker.total"], 2, "total")
    local off, off_item = r:uint(t, F["tracker.offset"], 2, "offset")
    local n, n_item = r:uint(t, F["tracker.peer_count"], 1, "peer_count")
    check_limit(n_item, n, "max_peers_per_reply", "peer_count")
    if off + n > total then
        flag(off_item, "total: offset + peer_count exceeds total")
    end
    for i = 0, n - 1 do
        local start = r.pos
        local e = group_item(t, r.tvb, start, "peer[" .. i .. "]")
        local id = r:node_id(e)
        r:u64(e, F.incarnation, "incarnation")
        local addr = r:addr(e, "link_addr")
        e:set_len(r.pos - start)
        e:append_text(": " .. short_id(id) .. " " .. addr)
    end
    return "total=" .. total .. " offset=" .. off .. " peers=" .. n
end

TRACKER[3] = function(r, t) -- QUERY
    r:u64(t, F.cluster_hash, "cluster_hash")
    local id = r:node_id(t)
    local off = r:uint(t, F["tracker.offset"], 2, "offset")
    local max = r:uint(t, F["tracker.max"], 2, "max")
    return "node=" .. short_id(id) .. " offset=" .. off .. " max=" .. max
end

---------------------------------------------------------------------------
-- Frames
---------------------------------------------------------------------------

local function extensions(r, t)
    local start = r.pos
    local sub = group_item(t, r.tvb, start, "Extensions")
    local ext_len, len_item = r:uint(sub, F.ext_len, 2, "ext_len")
    if ext_len == 0 then
        flag(len_item, "ext_len: the EXTENSIONS flag with an empty block")
    end
    if r.pos + ext_len > r.stop then
        flag(len_item, "ext_len: runs past the frame")
        fail("truncated", "ext_tlv")
    end
    local er = reader(r.tvb, r.pos, r.pos + ext_len)
    local notes = {}
    while er:left() > 0 do
        local tstart = er.pos
        local tlv = group_item(sub, r.tvb, tstart, "TLV")
        local ty_r = er:take(2, "ext_tlv")
        tlv:add(F["ext.mandatory"], ty_r)
        local ty_item = tlv:add(F["ext.type"], ty_r)
        local ty = band(ty_r:uint(), 0x7fff)
        local mandatory = ty_r:uint() >= 0x8000
        local len = er:uint(tlv, F["ext.length"], 2, "ext_tlv")
        if er.pos + len > er.stop then
            fail("truncated", "ext_value")
        end
        local v = er:take(len, "ext_value")
        local name = EXT_TYPES[ty]
        local function want(n, fname)
            if len ~= n then
                flag(ty_item, fname .. ": length must be " .. n)
                return false
            end
            return true
        end
        if ty == 1 then
            if want(8, "ext_replay_counter") then
                tlv:add(F["ext.replay_counter"], v)
                notes[#notes + 1] = "ctr=" .. tostring(v:uint64())
            end
        elseif ty == 2 then
            if len < 2 or len > 65 then
                flag(ty_item, "ext_auth_tag: length must be 2..=65")
            else
                tlv:add(F["ext.key_id"], v(0, 1))
                tlv:add(F["ext.auth_tag"], v(1, len - 1))
                notes[#notes + 1] = string.format("key=0x%02x", v(0, 1):uint())
            end
        elseif ty == 3 then
            if want(16, "ext_node_id") then
                tlv:add(F["ext.node_id"], v)
                notes[#notes + 1] = "from=" .. short_id(v)
            end
        elseif ty == 4 or ty == 5 then
            if want(0, "ext_congestion") then
                notes[#notes + 1] = (ty == 4) and "CE" or "ECE"
            end
        else
            if len > 0 then
                tlv:add(F["ext.value"], v)
            end
            if mandatory then
                ty_item:add_proto_expert_info(E.unknown,
                    string.format("unknown mandatory extension 0x%04x: the frame is refused", ty))
            end
        end
        tlv:set_len(er.pos - tstart)
        tlv:set_text(string.format("TLV 0x%04x %s (%s), %d bytes", ty, name or "unknown",
            mandatory and "mandatory" or "optional", len))
    end
    r.pos = er.pos
    sub:set_len(r.pos - start)
    return notes
end

-- Dissects the one frame in tvb(off, n). `n` is what the transport holds
-- for it (a datagram, a cut stream PDU); the header's length is checked
-- against it. Returns nothing; problems become expert info.
local function dissect_frame(tvb, pinfo, tree, off, n, ctx)
    local t = tree:add(nc, tvb(off, n))
    local ok, err = pcall(function()
        local r = reader(tvb, off, off + n)
        if n < HEADER_LEN then
            r:take(HEADER_LEN, "header")
        end
        local magic, magic_item = r:uint(t, F.magic, 2, "magic")
        if magic ~= MAGIC then
            flag(magic_item, "magic: not \"NC\" (BadMagic)")
            fail("malformed", "magic", "bad magic")
        end
        local proto, proto_item = r:uint(t, F.protocol, 1, "protocol")
        local version, ver_item = r:uint(t, F.version, 1, "version")
        local types = TYPES_BY_PROTOCOL[proto]
        local type_field = ({ F["discovery.type"], F["link.type"], F["admin.type"],
            F["tracker.type"] })[proto] or F.msg_type
        local msg_type, type_item = r:uint(t, type_field, 1, "msg_type")
        local flags, flags_item, flags_r = r:uint(t, F.flags, 1, "flags")
        flags_item:add(F["flags.extensions"], flags_r)
        flags_item:add(F["flags.reserved"], flags_r)
        local length, length_item = r:uint(t, F.length, 4, "length")
        local pname = PROTOCOLS[proto] or "unknown"
        local mname = types and types[msg_type] or ("type " .. msg_type)
        t:set_text("netcluster " .. pname .. " " .. mname)
        ctx.summary = pname .. " " .. mname

        if types == nil then
            proto_item:add_proto_expert_info(E.unknown, "unknown sub-protocol " .. proto .. " (UnknownProtocol)")
            return
        end
        if length ~= n then
            flag(length_item, "length: " .. length .. " but the frame has " .. n .. " bytes (LengthMismatch)")
        end
        -- Tracker datagrams fit 1,200 bytes; the tracker decodes with that
        -- max_frame (PROTOCOL 10, 10.4).
        if proto == 4 and length > 1200 then
            length_item:add_proto_expert_info(E.limit,
                "length: a tracker datagram is at most 1200 bytes (MAX_DATAGRAM): Oversized")
        end
        if band(flags, 0xfe) ~= 0 then
            flag(flags_item, "flags: reserved bits set")
        end
        -- v1 of every sub-protocol; HELLO and REJECT parse in any version.
        local frozen = proto == 2 and (msg_type == 1 or msg_type == 3)
        if version ~= 1 and not frozen then
            ver_item:add_proto_expert_info(E.version, "version " .. version
                .. " of " .. pname .. ": this dissector knows version 1 (UnsupportedVersion)")
            return
        end
        local notes = {}
        if band(flags, 1) ~= 0 then
            notes = extensions(r, t)
        end
        if types[msg_type] == nil then
            type_item:add_proto_expert_info(E.unknown, "unknown message type " .. msg_type
                .. " of " .. pname .. " (UnknownMessage)")
            return
        end
        local text
        if proto == 1 then
            text = announcement(r, t)
        elseif proto == 2 then
            text = LINK[msg_type](r, t, ctx)
        elseif proto == 3 then
            text = admin(r, t, msg_type)
        else
            text = TRACKER[msg_type](r, t)
        end
        if r:left() > 0 then
            local item = t:add(F.undecoded, tvb(r.pos, r:left()))
            flag(item, "trailing bytes after the " .. mname .. " body")
        end
        if #notes > 0 then
            text = text .. " [" .. table.concat(notes, " ") .. "]"
        end
        ctx.summary = ctx.summary .. " " .. text
        t:append_text(": " .. text)
    end)
    if not ok then
        if getmetatable(err) == Failure then
            if err.kind == "truncated" then
                t:add_proto_expert_info(E.truncated, "Truncated: the frame ends inside " .. err.field)
            else
                t:add_proto_expert_info(E.malformed, "Malformed " .. err.field .. ": " .. (err.text or ""))
            end
        else
            t:add_proto_expert_info(E.bug, "dissector error: " .. tostring(err))
        end
    end
end

local function add_info(pinfo, ctx)
    pinfo.cols.protocol = "NETCLUSTER"
    if ctx.summary then
        if ctx.first then
            pinfo.cols.info = ctx.summary
            ctx.first = false
        else
            pinfo.cols.info:append(" | " .. ctx.summary)
        end
    end
    ctx.summary = nil
end

-- A header's length field, or nil if the bytes at `off` do not start a
-- frame a stream could carry.
local function stream_frame_len(tvb, off)
    if tvb:len() - off < HEADER_LEN or tvb(off, 2):uint() ~= MAGIC then
        return nil
    end
    local len = tvb(off + 6, 4):uint()
    if len < HEADER_LEN or len > prefs.max_frame then
        return nil
    end
    return len
end

-- Frames back to back in `tvb` (a raw capture of a stream, no transport):
-- every whole frame, then the rest flagged.
local function dissect_stream_bytes(tvb, pinfo, tree, ctx)
    local off, total = 0, tvb:len()
    while off < total do
        local len = stream_frame_len(tvb, off)
        if len == nil then
            local item = tree:add(nc, tvb(off), "netcluster: bytes that do not start a frame")
            item:add_proto_expert_info(E.framing,
                "framing error: bad magic or length (the stream cannot be resynchronised)")
            return
        end
        if off + len > total then
            dissect_frame(tvb, pinfo, tree, off, total - off, ctx)
            add_info(pinfo, ctx)
            return
        end
        dissect_frame(tvb, pinfo, tree, off, len, ctx)
        add_info(pinfo, ctx)
        off = off + len
    end
end

---------------------------------------------------------------------------
-- Transports
---------------------------------------------------------------------------

-- UDP: one frame a datagram, or a batch of link frames (PROTOCOL 5.3).
local function dissect_datagram(tvb, pinfo, tree)
    local ctx = { pinfo = pinfo, first = true }
    local total = tvb:len()
    if total < HEADER_LEN or tvb(0, 2):uint() ~= MAGIC then
        dissect_frame(tvb, pinfo, tree, 0, total, ctx)
        add_info(pinfo, ctx)
        return total
    end
    local first_len = tvb(6, 4):uint()
    local batch = tvb(2, 1):uint() == 2 and first_len >= HEADER_LEN and first_len < total
    if not batch then
        dissect_frame(tvb, pinfo, tree, 0, total, ctx)
        add_info(pinfo, ctx)
        return total
    end
    local off, count = 0, 0
    while off < total do
        local left = total - off
        local len = left >= HEADER_LEN and tvb(off + 6, 4):uint() or left
        if len < HEADER_LEN or len > left then
            -- a frame cut short ends the batch (5.3)
            dissect_frame(tvb, pinfo, tree, off, left, ctx)
            add_info(pinfo, ctx)
            break
        end
        dissect_frame(tvb, pinfo, tree, off, len, ctx)
        add_info(pinfo, ctx)
        if tvb(off + 2, 1):uint() ~= 2 then
            tree:add(nc, tvb(off, len), "non-link frame in a batch")
                :add_proto_expert_info(E.malformed, "a batch carries link frames only (5.3)")
        end
        off = off + len
        count = count + 1
    end
    if count > 1 then
        pinfo.cols.info:prepend("[batch of " .. count .. "] ")
    end
    return total
end

-- TCP: frames back to back, reassembled across segments.
local function tcp_pdu_len(tvb, pinfo, off)
    local len = stream_frame_len(tvb, off)
    if len == nil then
        -- Not a frame: a framing error (5.2). Take the rest of the segment
        -- so it is shown once, not waited for.
        return tvb:len() - off
    end
    return len
end

-- Whether the next PDU is the first of the segment being dissected: the
-- first replaces TCP's Info text, the others are appended to it.
local segment_first = true

local function tcp_pdu(tvb, pinfo, tree)
    local ctx = { pinfo = pinfo, first = segment_first }
    segment_first = false
    if stream_frame_len(tvb, 0) == nil then
        local item = tree:add(nc, tvb(), "netcluster: bytes that do not start a frame")
        item:add_proto_expert_info(E.framing,
            "framing error: bad magic, length < 10 or > max_frame; the receiver closes the link (5.2)")
        return tvb:len()
    end
    dissect_frame(tvb, pinfo, tree, 0, tvb:len(), ctx)
    add_info(pinfo, ctx)
    return tvb:len()
end

local function dissect_tcp(tvb, pinfo, tree)
    segment_first = true
    dissect_tcp_pdus(tvb, tree, HEADER_LEN, tcp_pdu_len, tcp_pdu)
    return tvb:len()
end

-- The main dissector: by transport.
local PT_TCP, PT_UDP = 2, 3
function nc.dissector(tvb, pinfo, tree)
    local pt = pinfo.port_type
    if pt == PT_TCP then
        return dissect_tcp(tvb, pinfo, tree)
    elseif pt == PT_UDP then
        return dissect_datagram(tvb, pinfo, tree)
    end
    local ctx = { pinfo = pinfo, first = true }
    dissect_stream_bytes(tvb, pinfo, tree, ctx)
    return tvb:len()
end

---------------------------------------------------------------------------
-- Registration
---------------------------------------------------------------------------

-- Whether `tvb` starts with a plausible header: magic, a known sub-protocol,
-- a non-zero version, no reserved flags, a length of at least a header.
local function looks_like_frame(tvb)
    if tvb:len() < HEADER_LEN or tvb(0, 2):uint() ~= MAGIC then
        return false
    end
    local p, v, fl = tvb(2, 1):uint(), tvb(3, 1):uint(), tvb(5, 1):uint()
    local len = tvb(6, 4):uint()
    return p >= 1 and p <= 4 and v >= 1 and band(fl, 0xfe) == 0 and len >= HEADER_LEN
end

local function heur_udp(tvb, pinfo, tree)
    if not looks_like_frame(tvb) or tvb(6, 4):uint() > tvb:len() then
        return false
    end
    dissect_datagram(tvb, pinfo, tree)
    return true
end

local function heur_tcp(tvb, pinfo, tree)
    if not looks_like_frame(tvb) or tvb(6, 4):uint() > prefs.max_frame then
        return false
    end
    -- The rest of this connection goes to this dissector too, including
    -- segments that start inside a frame.
    pinfo.conversation = nc
    dissect_tcp(tvb, pinfo, tree)
    return true
end

local tcp_table = DissectorTable.get("tcp.port")
local udp_table = DissectorTable.get("udp.port")
local registered = {}

local function register_ports()
    for _, e in ipairs(registered) do
        e[1]:remove(e[2], nc)
    end
    registered = {}
    local function add(tbl, port)
        if port ~= 0 then
            tbl:add(port, nc)
            registered[#registered + 1] = { tbl, port }
        end
    end
    add(tcp_table, prefs.tcp_link_port)
    add(udp_table, prefs.udp_link_port)
    add(udp_table, prefs.udp_beacon_port)
    add(udp_table, prefs.udp_tracker_port)
end

register_ports()
nc.prefs_changed = register_ports
nc:register_heuristic("udp", heur_udp)
nc:register_heuristic("tcp", heur_tcp)

function nc.init()
    noise_hello = {}
    noise_after = {}
end
