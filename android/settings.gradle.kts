// The Kotlin shell as Android libraries, for apps built with Gradle: :consent
// (what apps depend on) and :bindings (the generated UniFFI code it
// re-exports). Not built on our CI machines (no Android SDK or Gradle there):
// pom.xml compiles the same sources and runs the tests on the JVM instead.
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}
dependencyResolutionManagement {
    repositories {
        google()
        mavenCentral()
    }
}
rootProject.name = "altyn-consent-android"
include(":bindings", ":consent")
