#!/usr/bin/env python3
"""Reads an .xlsx file back cell by cell (zipfile and the XML alone, no
Excel library): prints {"sheet name": {"A1": value, ...}, ...} as JSON,
strings as strings (shared strings resolved), numbers as numbers, and
under "_formats" {"sheet name": {"A1": "number format code"}} for the
cells that have one. Used by test_analytics.sh."""
import json
import re
import sys
import zipfile
import xml.etree.ElementTree as ET

NS = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main",
      "r": "http://schemas.openxmlformats.org/officeDocument/2006/relationships"}
REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"


def text(el):
    return "".join(t.text or "" for t in el.iter("{%s}t" % NS["m"]))


def main(path):
    z = zipfile.ZipFile(path)
    strings = []
    if "xl/sharedStrings.xml" in z.namelist():
        root = ET.fromstring(z.read("xl/sharedStrings.xml"))
        strings = [text(si) for si in root.findall("m:si", NS)]
    styles = ET.fromstring(z.read("xl/styles.xml"))
    codes = {int(f.get("numFmtId")): f.get("formatCode") for f in styles.iter("{%s}numFmt" % NS["m"])}
    xfs = [int(x.get("numFmtId", "0")) for x in styles.find("m:cellXfs", NS).findall("m:xf", NS)]
    rels = ET.fromstring(z.read("xl/_rels/workbook.xml.rels"))
    target = {r.get("Id"): r.get("Target") for r in rels}
    wb = ET.fromstring(z.read("xl/workbook.xml"))
    out, formats = {}, {}
    for sheet in wb.find("m:sheets", NS):
        name = sheet.get("name")
        xml = ET.fromstring(z.read("xl/" + re.sub(r"^/?xl/", "", target[sheet.get(REL)])))
        cells, fmts = {}, {}
        for c in xml.iter("{%s}c" % NS["m"]):
            ref, kind, v = c.get("r"), c.get("t"), c.find("m:v", NS)
            if kind == "s":
                cells[ref] = strings[int(v.text)]
            elif kind == "inlineStr":
                cells[ref] = text(c)
            elif v is not None:
                x = float(v.text)
                cells[ref] = int(x) if x.is_integer() else x
            fmt = xfs[int(c.get("s", "0"))]
            if fmt in codes:
                fmts[ref] = codes[fmt]
        out[name], formats[name] = cells, fmts
    out["_formats"] = formats
    json.dump(out, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main(sys.argv[1])
