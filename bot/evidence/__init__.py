"""Evidence a worker keeps on her case: items in a hash chain (`log`), the
files she shares kept in the store, and the police-ready pack built from them."""
