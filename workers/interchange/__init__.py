"""Label interchange: one module per label format (JAMS, Audacity, Label Studio, Sonic
Visualiser CSV), each a pure reader and writer of Cochlea annotations."""
