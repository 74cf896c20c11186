// The generated UniFFI bindings as a module of their own: generated code,
// kept outside the explicit API mode of :consent (which re-exports them).
//
//   scripts/build-android.sh      # writes them to target/bindings/kotlin
plugins {
    id("com.android.library")
    id("org.jetbrains.kotlin.android")
}

android {
    namespace = "kz.altyncoin.consent.bindings"
    compileSdk = 35

    defaultConfig {
        minSdk = 24
    }

    sourceSets {
        getByName("main") {
            // Written by scripts/build-android.sh (never committed).
            kotlin.srcDir(rootProject.file("../target/bindings/kotlin"))
        }
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
}

kotlin {
    jvmToolchain(17)
}

dependencies {
    // The generated code calls the library through JNA (the AAR variant
    // carries JNA's own native libraries for every ABI). Its R8 rules are in
    // :consent's consumer-rules.pro.
    api("net.java.dev.jna:jna:5.17.0@aar")
    implementation("org.jetbrains.kotlinx:kotlinx-coroutines-android:1.10.2")
}
