# Writes the demo purchase order (PO-NW-20931.pdf): one A4 page in the
# standard fonts, with a small table. Run: python3 make-po.py PO-NW-20931.pdf
lines = []
def text(x, y, size, font, s):
    s = s.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    lines.append(f"BT /{font} {size} Tf {x} {y} Td ({s}) Tj ET")
def rule(x1, y1, x2, y2, w=0.8):
    lines.append(f"{w} w {x1} {y1} m {x2} {y2} l S")

lines.append("0.12 0.29 0.55 rg 0 782 595 60 re f 1 1 1 rg")
text(48, 805, 22, "F2", "PURCHASE ORDER")
text(420, 805, 12, "F1", "PO NW-20931")
lines.append("0 0 0 rg")
text(48, 740, 11, "F2", "Northwind Traders")
text(48, 724, 10, "F1", "Accounts Payable, 400 Harbor Way, Portland, OR")
text(48, 708, 10, "F1", "ap@northwind.example")
text(330, 740, 11, "F2", "Supplier")
text(330, 724, 10, "F1", "Acme Sales, Inc.")
text(330, 708, 10, "F1", "Date: 19 November 2026")
y = 650
rule(48, y + 16, 547, y + 16, 1.2)
for x, h in ((48, "Item"), (330, "Qty"), (400, "Unit price"), (490, "Amount")):
    text(x, y, 10, "F2", h)
rule(48, y - 8, 547, y - 8)
rows = [
    ("Acme Workspace licence, 24-month term", "250", "$96.00", "$24,000.00"),
    ("Onboarding and admin training", "1", "$2,500.00", "$2,500.00"),
    ("Priority support, 24 months", "1", "$3,900.00", "$3,900.00"),
]
y -= 28
for item, qty, unit, amount in rows:
    text(48, y, 10, "F1", item); text(330, y, 10, "F1", qty)
    text(400, y, 10, "F1", unit); text(490, y, 10, "F1", amount)
    y -= 22
rule(48, y + 8, 547, y + 8)
text(400, y - 10, 11, "F2", "Total"); text(490, y - 10, 11, "F2", "$30,400.00")
text(48, 150, 9, "F1", "Terms: net 30 from invoice. Please countersign and return with the invoice.")
rule(48, 100, 250, 100); text(48, 86, 9, "F1", "Dana Reyes, VP Operations")
content = "\n".join(lines).encode()

objs = [
    b"<< /Type /Catalog /Pages 2 0 R >>",
    b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
    b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 5 0 R /F2 6 0 R >> >> /Contents 4 0 R >>",
    b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
    b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>",
]
out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
offsets = []
for i, body in enumerate(objs, 1):
    offsets.append(len(out))
    out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
xref = len(out)
out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
for o in offsets:
    out += b"%010d 00000 n \n" % o
out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
import sys
open(sys.argv[1], "wb").write(out)
