#include "tar_archive.hpp"

#include <archive.h>
#include <archive_entry.h>

#include <algorithm>
#include <memory>
#include <stdexcept>

namespace chansum::orchestrator {
namespace {

struct ArchiveFree {
  void operator()(archive* a) const { archive_write_free(a); }
};
struct EntryFree {
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};

la_ssize_t WriteToSink(archive* a, void* client_data, const void* buffer, size_t length) {
  const auto& sink = *static_cast<const TarSink*>(client_data);
  if (sink(std::string_view(static_cast<const char*>(buffer), length))) {
    return static_cast<la_ssize_t>(length);
  }
  archive_set_error(a, EPIPE, "the receiver stopped reading");
  return -1;
}

bool WriteEntry(archive* a, const TarEntry& e, std::int64_t mtime) {
  std::unique_ptr<archive_entry, EntryFree> entry(archive_entry_new());
  archive_entry_set_pathname(entry.get(), e.name.c_str());
  archive_entry_set_filetype(entry.get(), AE_IFREG);
  archive_entry_set_perm(entry.get(), 0644);
  archive_entry_set_size(entry.get(), static_cast<la_int64_t>(e.content.size()));
  archive_entry_set_mtime(entry.get(), std::max<std::int64_t>(0, mtime), 0);
  if (archive_write_header(a, entry.get()) != ARCHIVE_OK) return false;
  return e.content.empty() || archive_write_data(a, e.content.data(), e.content.size()) ==
                                  static_cast<la_ssize_t>(e.content.size());
}

}  // namespace

bool WriteTar(const std::vector<TarEntry>& entries, std::int64_t mtime, const TarSink& sink) {
  std::unique_ptr<archive, ArchiveFree> a(archive_write_new());
  if (!a) return false;
  // pax: plain ustar headers, with an extended header only for a name ustar cannot hold.
  if (archive_write_set_format_pax_restricted(a.get()) != ARCHIVE_OK ||
      archive_write_set_bytes_in_last_block(a.get(), 1) != ARCHIVE_OK ||
      archive_write_open(a.get(), const_cast<TarSink*>(&sink), nullptr, WriteToSink, nullptr) !=
          ARCHIVE_OK) {
    return false;
  }
  for (const auto& e : entries) {
    if (!WriteEntry(a.get(), e, mtime)) return false;
  }
  return archive_write_close(a.get()) == ARCHIVE_OK;
}

std::string MakeTar(const std::vector<TarEntry>& entries, std::int64_t mtime) {
  std::string out;
  const bool ok = WriteTar(entries, mtime, [&out](std::string_view bytes) {
    out.append(bytes);
    return true;
  });
  if (!ok) throw std::runtime_error("libarchive could not write the tar archive");
  return out;
}

}  // namespace chansum::orchestrator
