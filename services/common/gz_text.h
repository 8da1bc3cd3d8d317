/*  gz_text: text checks and transforms shared by every service: UTF-8
    validation, character counts, phone masking, HTML/XML escaping.
    Pure functions; safe from any thread.  */
#ifndef GZ_TEXT_H_INCLUDED
#define GZ_TEXT_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

//  True if s[0..len) is well-formed UTF-8 (no overlongs, no surrogates,
//  nothing above U+10FFFF, no truncated sequence) and holds only
//  characters XML 1.0 can carry: no NUL or C0 control character other
//  than tab, LF and CR, and no U+FFFE or U+FFFF. DEL and C1 controls are
//  allowed. Every text the platform takes in is checked with it.
bool gz_utf8_valid (const char *s, size_t len);

//  Number of code points in valid UTF-8 s[0..len).
size_t gz_utf8_chars (const char *s, size_t len);

//  True for a plausible phone number: 5-20 digits, optional leading '+',
//  single spaces or '-' allowed between digits ("+86 138-1234-8000").
//  NULL is not valid.
bool gz_phone_valid (const char *phone);

//  True when url is an http:// or https:// URL, the only links (a photo's
//  media_url) the platform stores and shows; javascript:, data: and the
//  like are not. NULL is not one.
bool gz_url_http (const char *url);

//  Masked phone for display, computed on the digits only (formatting is
//  dropped): keeps the first 3 and last 4 digits, "13812348000" ->
//  "138****8000". A Chinese country code is dropped first, so
//  "+86 138-1234-8000" -> "138****8000". Numbers of fewer than 9 digits
//  (too little would stay hidden), and NULL, become "****". Caller frees.
char *gz_phone_mask (const char *phone);

//  Escape for HTML text and attribute values (& < > " ' become
//  &amp; &lt; &gt; &quot; &#39;). Caller frees.
char *gz_html_escape (const char *s);

//  Escape for XML text and attributes (& < > " ' become &amp; &lt; &gt;
//  &quot; &apos;); C0 controls other than tab, LF, CR, which XML 1.0 cannot
//  carry at all, become U+FFFD. Caller frees.
char *gz_xml_escape (const char *s);

#endif
