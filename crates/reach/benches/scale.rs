fn main() {} // placeholder (the reach helper replaces this file)
