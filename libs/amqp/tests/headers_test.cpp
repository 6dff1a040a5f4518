#include "chansum/amqp/headers.hpp"

#include <cstring>

#include <gtest/gtest.h>

namespace chansum::amqp {
namespace {

std::string Str(amqp_bytes_t b) { return std::string(static_cast<const char*>(b.bytes), b.len); }

TEST(HeadersTest, BuildsTableViewOfStringsAndIntegers) {
  Headers h{{"job_id", std::string("j-1")}, {"attempt", std::int64_t{3}}, {"empty", std::string()}};
  TableBuilder builder;
  amqp_table_t t = builder.Build(h);
  ASSERT_EQ(t.num_entries, 3);
  // std::map order: attempt, empty, job_id
  EXPECT_EQ(Str(t.entries[0].key), "attempt");
  EXPECT_EQ(t.entries[0].value.kind, AMQP_FIELD_KIND_I64);
  EXPECT_EQ(t.entries[0].value.value.i64, 3);
  EXPECT_EQ(Str(t.entries[1].key), "empty");
  EXPECT_EQ(t.entries[1].value.kind, AMQP_FIELD_KIND_UTF8);
  EXPECT_EQ(t.entries[1].value.value.bytes.len, 0u);
  EXPECT_EQ(Str(t.entries[2].key), "job_id");
  EXPECT_EQ(Str(t.entries[2].value.value.bytes), "j-1");

  EXPECT_EQ(builder.Build(Headers{}).num_entries, 0);
}

TEST(HeadersTest, RoundTripsThroughWireEncoding) {
  Headers h{{"trace_id", std::string("abc")},
            {"attempt", std::int64_t{-7}},
            {"big", std::int64_t{1} << 40}};
  TableBuilder builder;
  amqp_table_t t = builder.Build(h);

  // Encode as librabbitmq does on the wire, decode it back, convert: must equal the input.
  char buffer[512];
  amqp_bytes_t encoded{sizeof(buffer), buffer};
  std::size_t offset = 0;
  ASSERT_EQ(amqp_encode_table(encoded, &t, &offset), AMQP_STATUS_OK);

  amqp_pool_t pool;
  init_amqp_pool(&pool, 4096);
  amqp_table_t decoded;
  std::size_t read_offset = 0;
  amqp_bytes_t wire{offset, buffer};
  ASSERT_EQ(amqp_decode_table(wire, &pool, &decoded, &read_offset), AMQP_STATUS_OK);
  EXPECT_EQ(FromTable(decoded), h);
  empty_amqp_pool(&pool);
}

TEST(HeadersTest, ConvertsEveryScalarKindAndSkipsNested) {
  amqp_table_entry_t e[8];
  std::memset(e, 0, sizeof(e));
  e[0].key = amqp_cstring_bytes("x-delivery-count");
  e[0].value.kind = AMQP_FIELD_KIND_I64;
  e[0].value.value.i64 = 2;
  e[1].key = amqp_cstring_bytes("i32");
  e[1].value.kind = AMQP_FIELD_KIND_I32;
  e[1].value.value.i32 = -5;
  e[2].key = amqp_cstring_bytes("u8");
  e[2].value.kind = AMQP_FIELD_KIND_U8;
  e[2].value.value.u8 = 200;
  e[3].key = amqp_cstring_bytes("flag");
  e[3].value.kind = AMQP_FIELD_KIND_BOOLEAN;
  e[3].value.value.boolean = 1;
  e[4].key = amqp_cstring_bytes("bytes");
  e[4].value.kind = AMQP_FIELD_KIND_BYTES;
  e[4].value.value.bytes = amqp_cstring_bytes("raw");
  e[5].key = amqp_cstring_bytes("nested");
  e[5].value.kind = AMQP_FIELD_KIND_TABLE;
  e[6].key = amqp_cstring_bytes("x-death");
  e[6].value.kind = AMQP_FIELD_KIND_ARRAY;
  e[7].key = amqp_cstring_bytes("ts");
  e[7].value.kind = AMQP_FIELD_KIND_TIMESTAMP;
  e[7].value.value.u64 = 1700000000;
  amqp_table_t t{8, e};

  Headers h = FromTable(t);
  EXPECT_EQ(h.size(), 6u);
  EXPECT_EQ(HeaderInt(h, "x-delivery-count"), 2);
  EXPECT_EQ(HeaderInt(h, "i32"), -5);
  EXPECT_EQ(HeaderInt(h, "u8"), 200);
  EXPECT_EQ(HeaderInt(h, "flag"), 1);
  EXPECT_EQ(HeaderString(h, "bytes"), "raw");
  EXPECT_EQ(HeaderInt(h, "ts"), 1700000000);
  EXPECT_FALSE(h.contains("nested"));
  EXPECT_FALSE(h.contains("x-death"));
  EXPECT_EQ(HeaderString(h, "i32"), std::nullopt);  // wrong type
  EXPECT_EQ(HeaderInt(h, "missing"), std::nullopt);
}

}  // namespace
}  // namespace chansum::amqp
